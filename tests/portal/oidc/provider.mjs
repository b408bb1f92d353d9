// An OpenID Connect provider for the portal's tests: panva's oidc-provider (a certified
// implementation), one confidential client, its development sign-in pages (any login name
// is accepted and becomes the account's preferred_username).
// node provider.mjs PORT REDIRECT_URI CLIENT_SECRET
import Provider from "oidc-provider";

const [port, redirect, secret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: "opencass",
    client_secret: secret,
    redirect_uris: [redirect],
    response_types: ["code"],
    grant_types: ["authorization_code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email", "email_verified"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    async claims() {
      return { sub: id, preferred_username: id, name: id, email: `${id}@example.org`, email_verified: true };
    },
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["opencass-test-cookie-key"] },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300 },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => { console.log(`listening ${issuer}`); });
