// A real OpenID Connect provider on loopback for the single sign-on tests: `oidc-provider`
// (OpenID-certified) with its built-in development login and consent pages.
//
//   node oidc_provider.mjs <port> [issuer]
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the one confidential client (client_secret_basic)
//   OIDC_REDIRECT_URIS                   space-separated redirect URIs of that client
//   OIDC_ACCOUNTS_FILE                   JSON {"<login>": {claims…}}, read again on every lookup, so a
//                                        test can change a user's groups between two sign-ins
// The login page accepts any password for a login listed in the accounts file. Prints
// `oidc-provider ready <issuer>` on stdout once it listens.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node oidc_provider.mjs <port> [issuer]');
  process.exit(2);
}
const issuer = process.argv[3] || `http://127.0.0.1:${port}`;
const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
};
const clientId = need('OIDC_CLIENT_ID');
const clientSecret = need('OIDC_CLIENT_SECRET');
const redirectUris = need('OIDC_REDIRECT_URIS').split(/\s+/).filter(Boolean);
const accountsFile = need('OIDC_ACCOUNTS_FILE');

function readAccounts() {
  return JSON.parse(readFileSync(accountsFile, 'utf8'));
}

// a fresh signing key per run (RS256), so no key material lives in the repository
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  // scope → claims it releases; `groups` is a scope of its own, as at many providers
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups', 'roles'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    // no logout, introspection, registration: only what a relying party needs
    userinfo: { enabled: true },
  },
  cookies: { keys: ['loopback-test-cookie-key'] },
  ttl: {
    AuthorizationCode: 60,
    IdToken: 300,
    AccessToken: 300,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  async findAccount(_ctx, id) {
    const claims = readAccounts()[id];
    if (!claims) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...claims };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
