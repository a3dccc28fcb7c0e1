// oauth4webapi as an OpenID Connect relying party against Tollhouse, with its strict
// defaults: discovery (issuer must match), PKCE S256, state and RFC 9207 iss checks,
// ID Token claims (iss, aud, azp, exp, iat, nonce, alg = the client's registered
// id_token_signed_response_alg, default RS256), the ID Token signature against the
// JWKS, and userinfo (sub must match the ID Token's).
//
// Driven by tests/interop/test_oauth4webapi.py over stdin/stdout, one JSON line each:
//   out {"authorization_url"}  ← in {"callback_url"}  → out {"claims", "userinfo", ...}
// Environment: ISSUER, CLIENT_ID, REDIRECT_URI, CLIENT_SECRET and ID_TOKEN_ALG (optional),
// and NODE_EXTRA_CA_CERTS for Tollhouse's self-signed certificate. PRIVATE_JWK (an EC
// P-256 private JWK with kid) makes the client authenticate with private_key_jwt;
// USE_PAR=1 pushes the authorization request to /par first (RFC 9126); USE_DPOP=1 binds
// the tokens to a DPoP key (RFC 9449), answering a use_dpop_nonce challenge if one comes.
import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const issuer = new URL(process.env.ISSUER)
const redirectUri = process.env.REDIRECT_URI
const client = { client_id: process.env.CLIENT_ID }
if (process.env.ID_TOKEN_ALG) client.id_token_signed_response_alg = process.env.ID_TOKEN_ALG
// A public client (PKCE instead of a secret) unless CLIENT_SECRET is given.
let clientAuth = process.env.CLIENT_SECRET
  ? oauth.ClientSecretBasic(process.env.CLIENT_SECRET)
  : oauth.None()
if (process.env.PRIVATE_JWK) {
  const jwk = JSON.parse(process.env.PRIVATE_JWK)
  const key = await crypto.subtle.importKey(
    'jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'],
  )
  clientAuth = oauth.PrivateKeyJwt({ key, kid: jwk.kid })
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const send = (value) => process.stdout.write(JSON.stringify(value) + '\n')

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer))
const DPoP = process.env.USE_DPOP
  ? oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  : undefined

const codeVerifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const nonce = oauth.generateRandomNonce()
let url = new URL(as.authorization_endpoint)
url.searchParams.set('client_id', client.client_id)
url.searchParams.set('redirect_uri', redirectUri)
url.searchParams.set('response_type', 'code')
url.searchParams.set('scope', 'openid profile email')
url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
url.searchParams.set('code_challenge_method', 'S256')
url.searchParams.set('state', state)
url.searchParams.set('nonce', nonce)
if (process.env.USE_PAR) {
  const pushed = await oauth.processPushedAuthorizationResponse(
    as, client,
    await oauth.pushedAuthorizationRequest(as, client, clientAuth, url.searchParams),
  )
  url = new URL(as.authorization_endpoint)
  url.searchParams.set('client_id', client.client_id)
  url.searchParams.set('request_uri', pushed.request_uri)
}
send({ authorization_url: url.href, nonce })

const { value } = await lines.next()
const callback = new URL(JSON.parse(value).callback_url)
const params = oauth.validateAuthResponse(as, client, callback, state)
const exchange = async () => {
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, redirectUri, codeVerifier, { DPoP },
  )
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: nonce,
    requireIdToken: true,
  })
  await oauth.validateApplicationLevelSignature(as, response)
  return result
}
let tokens
try {
  tokens = await exchange()
} catch (err) {
  if (!DPoP || !oauth.isDPoPNonceError(err)) throw err
  tokens = await exchange()  // RFC 9449 §8: the handle keeps the nonce for the retry
}
const claims = oauth.getValidatedIdTokenClaims(tokens)
const userinfo = await oauth.processUserInfoResponse(
  as, client, claims.sub,
  await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP }),
)
send({
  claims, userinfo, scope: tokens.scope, token_type: tokens.token_type,
  access_token: tokens.access_token,
})
process.exit(0)
