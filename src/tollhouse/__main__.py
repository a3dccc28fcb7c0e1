from tollhouse.cli.main import main

main()
