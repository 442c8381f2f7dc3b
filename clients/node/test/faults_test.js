'use strict';
// What the SDK sees when userstore answers with injected failures: control lines sent through the
// same co-process as the SDK's requests (docs/replay.md, "Control lines").

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');

const { makeClient, rejection } = require('./support');

const RestException = require('twilio/lib/base/RestException').default;

describe('injected failures, as the SDK sees them', () => {
  it('a rate limit: the SDK gets RestException 429/20429, with Retry-After', async () => {
    const { client, httpClient } = makeClient();
    const service = await client.chat.v2.services.create({ friendlyName: 'game' });
    const users = client.chat.v2.services(service.sid).users;
    const rule = await httpClient.control({
      control: 'rate_limit', per_second: 1, burst: 2, code: 20429, method: 'POST',
      path: '/v2/Services/*/Users',
    });
    assert.equal(rule.control, 'rate_limit');

    await users.create({ identity: 'a' });
    await users.create({ identity: 'b' });
    const err = await rejection(users.create({ identity: 'c' }));
    assert.ok(err instanceof RestException);
    assert.equal(err.status, 429);
    assert.equal(err.code, 20429);
    assert.equal(err.moreInfo, 'https://www.twilio.com/docs/errors/20429');
    assert.equal(httpClient.lastResponse.statusCode, 429);
    assert.equal(httpClient.lastResponse.headers['retry-after'], '1');

    // Reads are not limited, and the refused create changed nothing.
    assert.deepEqual((await users.list()).map((u) => u.identity), ['a', 'b']);

    // A second later the bucket has a token again.
    const clock = await httpClient.control({ control: 'clock', advance_seconds: 1 });
    assert.equal(clock.now, '2026-01-01T00:00:01Z');
    const c = await users.create({ identity: 'c' });
    assert.deepEqual(c.dateCreated, new Date('2026-01-01T00:00:01Z'));
    await httpClient.close();
  });

  it('a fault of status 429: the next fetch fails, the one after succeeds', async () => {
    const { client, httpClient } = makeClient();
    const user = await client.conversations.v1.users.create({ identity: 'alice' });
    await httpClient.control({
      control: 'fault', status: 429, code: 20429, method: 'GET', path: '*/Users/*', times: 1,
    });
    const err = await rejection(client.conversations.v1.users('alice').fetch());
    assert.ok(err instanceof RestException);
    assert.equal(err.status, 429);
    assert.equal(err.code, 20429);
    assert.equal((await client.conversations.v1.users('alice').fetch()).sid, user.sid);

    const { injected } = await httpClient.control({ control: 'injected' });
    assert.equal(injected.length, 1);
    assert.equal(injected[0].status, 429);
    assert.equal(injected[0].code, 20429);
    assert.equal(injected[0].method, 'GET');
    await httpClient.close();
  });

  it('a fault on every second page: list() surfaces it as a RestException', async () => {
    const { client, httpClient } = makeClient();
    const users = client.conversations.v1.users;
    for (const identity of ['a', 'b', 'c', 'd', 'e']) await users.create({ identity });
    await httpClient.control({
      control: 'fault', status: 429, code: 20429, method: 'GET', path: '/v1/Users', every: 2,
    });
    const err = await rejection(users.list({ pageSize: 2 }));
    assert.equal(err.status, 429);
    assert.equal(err.code, 20429);
    await httpClient.control({ control: 'clear' });
    assert.equal((await users.list({ pageSize: 2 })).length, 5);
    await httpClient.close();
  });

  it('a lost acknowledgement: the create happened, the retry meets 409/50201', async () => {
    const { client, httpClient } = makeClient();
    const service = await client.chat.v2.services.create({ friendlyName: 'game' });
    const users = client.chat.v2.services(service.sid).users;
    await httpClient.control({
      control: 'fault', status: 503, code: 20503, method: 'POST', path: '*/Users', apply: true,
    });
    const lost = await rejection(users.create({ identity: 'alice' }));
    assert.equal(lost.status, 503);
    assert.equal(lost.code, 20503);
    const retry = await rejection(users.create({ identity: 'alice' }));
    assert.equal(retry.status, 409);
    assert.equal(retry.code, 50201);
    assert.equal((await users('alice').fetch()).identity, 'alice');
    await httpClient.close();
  });
});
