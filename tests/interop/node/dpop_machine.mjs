// oauth4webapi's DPoP support (RFC 9449) for a machine client: client_credentials with
// a DPoP proof (answering a use_dpop_nonce challenge if the server sends one), then a
// protected-resource call with the DPoP scheme to an API guarded by tollhouse.resource.
//
// Driven by tests/interop/test_oauth4webapi_dpop_resource.py; one JSON line out.
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, SCOPE, RESOURCE_URL, NODE_EXTRA_CA_CERTS.
import * as oauth from 'oauth4webapi'

const issuer = new URL(process.env.ISSUER)
const client = { client_id: process.env.CLIENT_ID }
const clientAuth = oauth.ClientSecretBasic(process.env.CLIENT_SECRET)
const resource = new URL(process.env.RESOURCE_URL)

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer))
const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

const grant = async () => oauth.processClientCredentialsResponse(
  as, client,
  await oauth.clientCredentialsGrantRequest(
    as, client, clientAuth, new URLSearchParams({ scope: process.env.SCOPE }), { DPoP },
  ),
)
let tokens
try {
  tokens = await grant()
} catch (err) {
  if (!oauth.isDPoPNonceError(err)) throw err
  tokens = await grant()
}

// The API is plain HTTP on 127.0.0.1 in the test.
const options = { DPoP, [oauth.allowInsecureRequests]: true }
const call = () => oauth.protectedResourceRequest(
  tokens.access_token, 'GET', resource, new Headers(), null, options,
)
let response
try {
  response = await call()
} catch (err) {
  if (!oauth.isDPoPNonceError(err)) throw err
  response = await call()
}
const body = await response.json()
// The same token presented as a bearer token, without a proof: the API must refuse it.
const asBearer = await fetch(resource, { headers: { authorization: `Bearer ${tokens.access_token}` } })
process.stdout.write(JSON.stringify({
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  status: response.status,
  body,
  bearer_status: asBearer.status,
  bearer_challenge: asBearer.headers.get('www-authenticate'),
}) + '\n')
process.exit(0)
