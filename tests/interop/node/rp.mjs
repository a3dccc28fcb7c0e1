// oauth4webapi as an OpenID Connect relying party against Tollhouse, with its strict
// defaults: discovery (issuer must match), PKCE S256, state and RFC 9207 iss checks,
// ID Token claims (iss, aud, azp, exp, iat, nonce, alg = the client's registered
// id_token_signed_response_alg, default RS256), the ID Token signature against the
// JWKS, and userinfo (sub must match the ID Token's).
//
// Driven by tests/interop/test_oauth4webapi.py over stdin/stdout, one JSON line each:
//   out {"authorization_url"}  ← in {"callback_url"}  → out {"claims", "userinfo", ...}
// Environment: ISSUER, CLIENT_ID, REDIRECT_URI, CLIENT_SECRET and ID_TOKEN_ALG (optional),
// and NODE_EXTRA_CA_CERTS for Tollhouse's self-signed certificate.
import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const issuer = new URL(process.env.ISSUER)
const redirectUri = process.env.REDIRECT_URI
const client = { client_id: process.env.CLIENT_ID }
if (process.env.ID_TOKEN_ALG) client.id_token_signed_response_alg = process.env.ID_TOKEN_ALG
// A public client (PKCE instead of a secret) unless CLIENT_SECRET is given.
const clientAuth = process.env.CLIENT_SECRET
  ? oauth.ClientSecretBasic(process.env.CLIENT_SECRET)
  : oauth.None()

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const send = (value) => process.stdout.write(JSON.stringify(value) + '\n')

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer))

const codeVerifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const nonce = oauth.generateRandomNonce()
const url = new URL(as.authorization_endpoint)
url.searchParams.set('client_id', client.client_id)
url.searchParams.set('redirect_uri', redirectUri)
url.searchParams.set('response_type', 'code')
url.searchParams.set('scope', 'openid profile email')
url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
url.searchParams.set('code_challenge_method', 'S256')
url.searchParams.set('state', state)
url.searchParams.set('nonce', nonce)
send({ authorization_url: url.href, nonce })

const { value } = await lines.next()
const callback = new URL(JSON.parse(value).callback_url)
const params = oauth.validateAuthResponse(as, client, callback, state)
const response = await oauth.authorizationCodeGrantRequest(
  as, client, clientAuth, params, redirectUri, codeVerifier,
)
const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
  expectedNonce: nonce,
  requireIdToken: true,
})
await oauth.validateApplicationLevelSignature(as, response)
const claims = oauth.getValidatedIdTokenClaims(tokens)
const userinfo = await oauth.processUserInfoResponse(
  as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token),
)
send({ claims, userinfo, scope: tokens.scope, token_type: tokens.token_type })
process.exit(0)
