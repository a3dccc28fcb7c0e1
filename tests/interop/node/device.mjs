// oauth4webapi's device flow functions (RFC 8628) against Tollhouse, with its strict
// defaults: discovery (issuer must match), the device authorization response, polling
// with the server's interval (5 s longer after slow_down), and the ID Token claims.
//
// Driven by tests/interop/test_oauth4webapi_device.py, one JSON line each way on stdout:
//   out {"user_code", "verification_uri", "verification_uri_complete", "interval"}
//   then, once a person approved: out {"claims", "scope", "token_type", "polls"}
// Environment: ISSUER, CLIENT_ID, and NODE_EXTRA_CA_CERTS for the self-signed certificate.
import * as oauth from 'oauth4webapi'

const issuer = new URL(process.env.ISSUER)
const client = { client_id: process.env.CLIENT_ID }
const clientAuth = oauth.None()
const send = (value) => process.stdout.write(JSON.stringify(value) + '\n')
const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000))

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer))

const started = await oauth.processDeviceAuthorizationResponse(
  as,
  client,
  await oauth.deviceAuthorizationRequest(as, client, clientAuth, { scope: 'openid profile' }),
)
send({
  user_code: started.user_code,
  verification_uri: started.verification_uri,
  verification_uri_complete: started.verification_uri_complete,
  interval: started.interval,
})

let interval = started.interval ?? 5
let polls = 0
const deadline = Date.now() + started.expires_in * 1000
while (Date.now() < deadline) {
  await sleep(interval)
  polls += 1
  try {
    const result = await oauth.processDeviceCodeResponse(
      as,
      client,
      await oauth.deviceCodeGrantRequest(as, client, clientAuth, started.device_code),
    )
    send({
      claims: oauth.getValidatedIdTokenClaims(result),
      scope: result.scope,
      token_type: result.token_type,
      polls,
    })
    process.exit(0)
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError && error.error === 'authorization_pending') continue
    if (error instanceof oauth.ResponseBodyError && error.error === 'slow_down') {
      interval += 5
      continue
    }
    throw error
  }
}
throw new Error('the device code expired')
