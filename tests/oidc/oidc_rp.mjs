// A relying party on openid-client 6, for tests/oidc/test_oidc_relying_parties.py and
// tests/browser/test_oidc_passkey_journey.py (started by tests/relying_parties.py).
// GET /login → twostep; GET /callback → code exchange (PKCE, state, nonce checked by openid-client),
// userinfo, one refresh; shows the claims as JSON. GET /logout → twostep's end-session endpoint.
import http from 'node:http'
import * as client from 'openid-client'

const { ISSUER, CLIENT_ID, CLIENT_SECRET, PORT } = process.env
const base = `http://127.0.0.1:${PORT}`
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, {
  execute: [client.allowInsecureRequests],
})
const pending = new Map() // state -> { verifier, nonce }
let idToken = ''

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base)
  try {
    if (url.pathname === '/login') {
      const verifier = client.randomPKCECodeVerifier()
      const state = client.randomState()
      const nonce = client.randomNonce()
      pending.set(state, { verifier, nonce })
      const target = client.buildAuthorizationUrl(config, {
        redirect_uri: `${base}/callback`,
        scope: 'openid profile email groups',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      })
      return send(res, 302, '', { location: target.href })
    }
    if (url.pathname === '/callback') {
      const state = url.searchParams.get('state')
      const expected = pending.get(state)
      if (!expected) return send(res, 400, { error: 'unknown state' })
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: expected.verifier,
        expectedState: state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      })
      const claims = tokens.claims()
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
      idToken = tokens.id_token
      return send(res, 200, {
        claims,
        userinfo,
        refreshed: Boolean(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token),
      })
    }
    if (url.pathname === '/logout') {
      const target = client.buildEndSessionUrl(config, {
        id_token_hint: idToken,
        post_logout_redirect_uri: `${base}/signed-out`,
        state: 'bye',
      })
      return send(res, 302, '', { location: target.href })
    }
    if (url.pathname === '/signed-out') {
      return send(res, 200, { signed_out: url.searchParams.get('state') === 'bye' })
    }
    return send(res, 404, { error: 'not found' })
  } catch (error) {
    return send(res, 500, { error: String(error && error.message), code: error && error.code })
  }
})
server.listen(Number(PORT), '127.0.0.1', () => console.log(`rp ready on ${base}`))
