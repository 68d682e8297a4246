import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminUser, bearerToken, createTokenAuthenticator } from '../../src/api/auth.ts';

const ADMIN_TOKEN = 'Zm9vYmFyLWFkbWluLXRva2VuLTEyMzQ1Njc4OTAxMjM0NTY';
const NODE_TOKEN = 'node-token-abc';

function authenticator() {
  return createTokenAuthenticator(
    new Map([
      [ADMIN_TOKEN, adminUser()],
      [NODE_TOKEN, { username: 'system:node:n1', uid: 'n1-uid', groups: ['system:nodes'] }],
    ]),
  );
}

describe('token authentication', () => {
  it('accepts a known bearer token as its user', () => {
    const a = authenticator();
    assert.deepEqual(a.authenticate(`Bearer ${ADMIN_TOKEN}`), {
      username: 'system:admin',
      groups: ['system:masters', 'system:authenticated'],
    });
    assert.deepEqual(a.authenticate(`Bearer ${NODE_TOKEN}`), {
      username: 'system:node:n1',
      uid: 'n1-uid',
      groups: ['system:nodes', 'system:authenticated'],
    });
  });

  it('treats the scheme case-insensitively, as HTTP does', () => {
    const a = authenticator();
    assert.equal(a.authenticate(`bearer ${ADMIN_TOKEN}`)?.username, 'system:admin');
    assert.equal(a.authenticate(`BEARER  ${ADMIN_TOKEN}`)?.username, 'system:admin');
  });

  it('rejects unknown tokens, including near misses', () => {
    const a = authenticator();
    assert.equal(a.authenticate('Bearer wrong'), null);
    assert.equal(a.authenticate(`Bearer ${ADMIN_TOKEN.slice(0, -1)}`), null);
    assert.equal(a.authenticate(`Bearer ${ADMIN_TOKEN}x`), null);
    assert.equal(a.authenticate(`Bearer ${ADMIN_TOKEN.toUpperCase()}`), null);
  });

  it('rejects a missing or malformed Authorization header', () => {
    const a = authenticator();
    assert.equal(a.authenticate(undefined), null);
    assert.equal(a.authenticate(''), null);
    assert.equal(a.authenticate('Bearer'), null);
    assert.equal(a.authenticate('Bearer '), null);
    assert.equal(a.authenticate(ADMIN_TOKEN), null);
    assert.equal(a.authenticate(`Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`), null);
    assert.equal(a.authenticate(`Bearer ${ADMIN_TOKEN} extra`), null);
    assert.equal(a.authenticate(`Bearer\t${ADMIN_TOKEN}`), null);
  });

  it('hands out copies: a caller cannot change the stored user', () => {
    const a = authenticator();
    const u = a.authenticate(`Bearer ${ADMIN_TOKEN}`)!;
    u.groups.push('evil');
    u.username = 'mallory';
    assert.deepEqual(a.authenticate(`Bearer ${ADMIN_TOKEN}`), adminUser());
  });

  it('adds and removes tokens at run time', () => {
    const a = authenticator();
    assert.equal(a.size, 2);
    a.addToken('later', { username: 'later-user', groups: [] });
    assert.deepEqual(a.authenticate('Bearer later'), { username: 'later-user', groups: ['system:authenticated'] });
    assert.equal(a.removeToken('later'), true);
    assert.equal(a.removeToken('later'), false);
    assert.equal(a.authenticate('Bearer later'), null);
    assert.throws(() => a.addToken('has space', { username: 'x', groups: [] }));
  });

  it('remembers recent answers, yet adding and removing a token take effect at once', () => {
    const a = authenticator();
    // Rejected (and remembered as rejected), then added: accepted on the next request.
    assert.equal(a.authenticate('Bearer soon'), null);
    assert.equal(a.authenticate('Bearer soon'), null);
    a.addToken('soon', { username: 'soon-user', groups: [] });
    assert.equal(a.authenticate('Bearer soon')?.username, 'soon-user');
    // Accepted (and remembered), then removed: rejected on the next request.
    assert.equal(a.authenticate('Bearer soon')?.username, 'soon-user');
    a.removeToken('soon');
    assert.equal(a.authenticate('Bearer soon'), null);
    // A remembered user is still handed out as a copy.
    a.authenticate(`Bearer ${ADMIN_TOKEN}`)!.groups.push('evil');
    assert.deepEqual(a.authenticate(`Bearer ${ADMIN_TOKEN}`), adminUser());
    // Many distinct headers do not grow it without bound, and answers stay right.
    for (let i = 0; i < 2000; i++) assert.equal(a.authenticate(`Bearer guess-${i}`), null);
    assert.deepEqual(a.authenticate(`Bearer ${ADMIN_TOKEN}`), adminUser());
  });

  it('extracts bearer tokens', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('Bearer a b'), null);
    assert.equal(bearerToken('Token abc'), null);
    assert.equal(bearerToken(undefined), null);
  });
});
