// node-oidc-provider as the peer IdP of `make bench` (bench/idp/peer.py starts it).
//
// One process, plain HTTP on 127.0.0.1, its default in-memory adapter, and a
// client_credentials client authenticating with client_secret_basic. With the resource
// indicator PEER_RESOURCE a client_credentials grant returns an ES256 JWT access token
// (RFC 9068, via features.resourceIndicators); without one it returns the default opaque
// token, which is the kind /introspect can answer for (JWT access tokens are not stored
// by node-oidc-provider, so introspecting them says active=false).
//
// Environment: PEER_PORT, PEER_CLIENT_ID, PEER_CLIENT_SECRET, PEER_RESOURCE, PEER_SCOPE.
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PEER_PORT);
const resource = process.env.PEER_RESOURCE;
const scope = process.env.PEER_SCOPE;
const issuer = `http://127.0.0.1:${port}`;

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.PEER_CLIENT_ID,
      client_secret: process.env.PEER_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope,
    },
  ],
  jwks: {
    keys: [
      { ...ec, alg: 'ES256', use: 'sig', kid: 'bench-es256' },
      { ...rsa, alg: 'RS256', use: 'sig', kid: 'bench-rs256' },
    ],
  },
  scopes: [scope],
  ttl: { ClientCredentials: 900, AccessToken: 900 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return {
          scope,
          audience: resource,
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on ${issuer}`);
});
server.keepAliveTimeout = 65_000;

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
