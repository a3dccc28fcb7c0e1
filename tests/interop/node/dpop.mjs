// oauth4webapi's DPoP support (RFC 9449) against Tollhouse: a public client gets
// DPoP-bound tokens in the code flow, answers the server's use_dpop_nonce challenge,
// refreshes with the same key and calls userinfo with the DPoP scheme.
//
// Driven by tests/interop/test_oauth4webapi.py like rp.mjs, one JSON line each way:
//   out {"authorization_url"}  ← in {"callback_url"}  → out {"token_type", ...}
// Environment: ISSUER, CLIENT_ID, REDIRECT_URI, NODE_EXTRA_CA_CERTS.
import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const issuer = new URL(process.env.ISSUER)
const redirectUri = process.env.REDIRECT_URI
const client = { client_id: process.env.CLIENT_ID }
const clientAuth = oauth.None()

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const send = (value) => process.stdout.write(JSON.stringify(value) + '\n')

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer))
const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

const codeVerifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const nonce = oauth.generateRandomNonce()
const url = new URL(as.authorization_endpoint)
url.searchParams.set('client_id', client.client_id)
url.searchParams.set('redirect_uri', redirectUri)
url.searchParams.set('response_type', 'code')
url.searchParams.set('scope', 'openid profile')
url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
url.searchParams.set('code_challenge_method', 'S256')
url.searchParams.set('state', state)
url.searchParams.set('nonce', nonce)
send({ authorization_url: url.href })

const { value } = await lines.next()
const params = oauth.validateAuthResponse(as, client, new URL(JSON.parse(value).callback_url), state)

// RFC 9449 §8: the first proof carries no nonce; the server answers use_dpop_nonce and
// the DPoP handle keeps the nonce for the retry (the code is not spent by the refusal).
let nonceChallenged = false
const exchange = () => oauth.authorizationCodeGrantRequest(
  as, client, clientAuth, params, redirectUri, codeVerifier, { DPoP },
)
let tokens
try {
  tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchange(), {
    expectedNonce: nonce, requireIdToken: true,
  })
} catch (err) {
  if (!oauth.isDPoPNonceError(err)) throw err
  nonceChallenged = true
  tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchange(), {
    expectedNonce: nonce, requireIdToken: true,
  })
}
const claims = oauth.getValidatedIdTokenClaims(tokens)
const userinfo = await oauth.processUserInfoResponse(
  as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP }),
)
const refreshed = await oauth.processRefreshTokenResponse(
  as, client,
  await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP }),
)
send({
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  nonce_challenged: nonceChallenged,
  userinfo,
  refreshed_token_type: refreshed.token_type,
  refreshed_access_token: refreshed.access_token,
})
process.exit(0)
