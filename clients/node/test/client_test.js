'use strict';
// The client's side of the pipe: what it writes, what it hands the SDK, and how it fails.

const assert = require('node:assert/strict');
const path = require('node:path');
const { describe, it } = require('node:test');

const { createUserstoreHttpClient, formEncode } = require('..');
const { ACCOUNT_SID, makeClient, rejection, twilio, userstoreBinary } = require('./support');

const FAKE = path.join(__dirname, 'fixtures', 'fake_replay.js');
const fake = (mode, opts) =>
  createUserstoreHttpClient({ binary: FAKE, args: ['--mode', mode], ...opts });

describe('what the client writes', () => {
  it('one JSON line per request, as the SDK\'s RequestClient would send it', async () => {
    const client = fake('echo');
    const response = await client.request({
      method: 'post',
      uri: 'https://chat.twilio.com/v2/Services/IS1/Users?x=1',
      username: 'AC1',
      password: 'secret',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-Twilio-Webhook-Enabled': true,
      },
      params: { PageSize: 2, Skipped: undefined },
      data: { Identity: 'a b&c', Permission: ['x', 'y'], Empty: null, Skipped: undefined },
    });
    const sent = JSON.parse(response.body);
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, 'https://chat.twilio.com/v2/Services/IS1/Users?x=1&PageSize=2');
    assert.equal(sent.form, 'Identity=a%20b%26c&Permission=x&Permission=y&Empty=');
    assert.equal(sent.headers['X-Twilio-Webhook-Enabled'], 'true');
    assert.equal(sent.headers.Authorization,
                 'Basic ' + Buffer.from('AC1:secret').toString('base64'));
    assert.equal(client.lastRequest.method, 'post');
    assert.equal(client.lastRequest.url, 'https://chat.twilio.com/v2/Services/IS1/Users?x=1');
    assert.deepEqual(client.lastRequest.params, { PageSize: 2, Skipped: undefined });
    assert.equal(client.lastResponse.statusCode, 200);
    assert.equal(client.lastResponse.body, response.body);
    await client.close();
  });

  it('a GET carries its params in the URL and has no form', async () => {
    const client = fake('echo');
    const response = await client.request({
      method: 'get',
      uri: 'https://conversations.twilio.com/v1/Users',
      params: { PageSize: 5, Page: 0 },
    });
    const sent = JSON.parse(response.body);
    assert.equal(sent.method, 'GET');
    assert.equal(sent.url, 'https://conversations.twilio.com/v1/Users?PageSize=5&Page=0');
    assert.equal(sent.form, undefined);
    await client.close();
  });

  it('formEncode is qs.stringify with arrayFormat "repeat"', () => {
    const qs = require('qs');  // the SDK's own dependency
    const data = {
      Identity: 'ana maría@example.com', Attributes: '{"a": [1, "*"]}', Role: ['a', 'b c'],
      When: new Date(Date.UTC(2026, 0, 2)), Flag: true, N: 0, Nested: { k: 'v' }, Nil: null,
      Gone: undefined, Odd: "!'()~-._",
    };
    assert.equal(formEncode(data), qs.stringify(data, { arrayFormat: 'repeat' }));
  });
});

describe('what the client hands the SDK', () => {
  it('the body exactly as the tool wrote it, and the headers in lower case', async () => {
    const client = fake('raw');
    const response = await client.request({ method: 'get', uri: 'https://x/y' });
    assert.equal(response.statusCode, 201);
    assert.equal(response.body, '{"n": 1.50, "s":"caf\\u00e9", "k": {"body":[1, "]}"]}}');
    assert.deepEqual(response.headers, { 'retry-after': '1', body: 'not it' });
    await client.close();
  });

  it('a 204 is an empty body, as Twilio sends it', async () => {
    const { client, httpClient } = makeClient();
    const service = await client.chat.v2.services.create({ friendlyName: 's' });
    await client.chat.v2.services(service.sid).users.create({ identity: 'x' });
    const response = await httpClient.request({
      method: 'delete', uri: `https://chat.twilio.com/v2/Services/${service.sid}/Users/x`,
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.body, '');
    await httpClient.close();
  });

  it('requests are answered in call order, one on the pipe at a time', async () => {
    const client = fake('strict');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      client.request({ method: 'get', uri: `https://x/${i}` })));
    answers.forEach((response, i) => {
      assert.equal(response.statusCode, 200);
      assert.equal(JSON.parse(response.body).url, `https://x/${i}`);
    });
    await client.close();
  });

  it('concurrent SDK calls all land, in call order', async () => {
    const { client, httpClient } = makeClient();
    const service = await client.chat.v2.services.create({ friendlyName: 's' });
    const users = client.chat.v2.services(service.sid).users;
    const identities = Array.from({ length: 12 }, (_, i) => `user${i}`);
    await Promise.all(identities.map((identity) => users.create({ identity })));
    assert.deepEqual((await users.list()).map((u) => u.identity), identities);
    await httpClient.close();
  });
});

describe('how the client fails', () => {
  it('needs a binary', () => {
    const saved = process.env.USERSTORE_BIN;
    delete process.env.USERSTORE_BIN;
    try {
      assert.throws(() => createUserstoreHttpClient({}), /USERSTORE_BIN/);
      assert.throws(() => createUserstoreHttpClient({ binary: FAKE, args: '--mode echo' }),
                    TypeError);
    } finally {
      if (saved !== undefined) process.env.USERSTORE_BIN = saved;
    }
  });

  it('a binary that cannot be run rejects every request', async () => {
    const client = createUserstoreHttpClient({ binary: path.join(__dirname, 'no-such-userstore') });
    const err = await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    assert.match(err.message, /cannot run .*no-such-userstore.*ENOENT/);
    await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    await client.close();
  });

  it('a tool that exits says how, with its standard error', async () => {
    const client = fake('exit');
    const first = client.request({ method: 'get', uri: 'https://x/1' });
    const queued = client.request({ method: 'get', uri: 'https://x/2' });
    const err = await rejection(first);
    assert.match(err.message, /exited \(exit code 3\).*boom/s);
    assert.equal(await rejection(queued), err);
    assert.deepEqual(await client.close(), { code: 3, signal: null });
  });

  it('a line that is not an answer stops the client', async () => {
    const client = fake('garbage');
    const err = await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    assert.match(err.message, /not JSON: this is not an answer/);
    await client.close();
  });

  it('an answer nobody asked for stops the client', async () => {
    const client = fake('double');
    const first = await client.request({ method: 'get', uri: 'https://x/' });
    assert.equal(first.statusCode, 200);
    // The second copy came in the same write as the first, so it has been read by now.
    const err = await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    assert.match(err.message, /a line nobody asked for/);
    await client.close();
  });

  it('no answer within the timeout: rejected, and the tool is stopped', async () => {
    const client = fake('silent', { timeout: 50 });
    const err = await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    assert.match(err.message, /no answer within 50 ms/);
    assert.equal(await rejection(client.request({ method: 'get', uri: 'https://x/' })), err);
    const exit = await client.close();
    assert.equal(exit.signal, 'SIGTERM');
  });

  it('after close(), calls reject; close() is idempotent and reports exit 0', async () => {
    const client = createUserstoreHttpClient({ binary: userstoreBinary() });
    const closing = client.close();
    assert.equal(client.close(), closing);
    assert.deepEqual(await closing, { code: 0, signal: null });
    const err = await rejection(client.request({ method: 'get', uri: 'https://x/' }));
    assert.match(err.message, /closed/);
  });

  it('close() lets queued requests finish first', async () => {
    const { client, httpClient } = makeClient();
    const creating = client.chat.v2.services.create({ friendlyName: 's' });
    const closing = httpClient.close();
    assert.equal((await creating).friendlyName, 's');
    assert.deepEqual(await closing, { code: 0, signal: null });
  });

  it('control() checks its argument and reports a refused line with its status', async () => {
    const client = createUserstoreHttpClient({ binary: userstoreBinary() });
    await assert.rejects(client.control({ nope: 1 }), TypeError);
    await assert.rejects(client.control(null), TypeError);
    const err = await rejection(client.control({ control: 'no-such-control' }));
    assert.equal(err.status, 400);
    assert.equal(err.body.code, 20001);
    await client.close();
  });

  it('the SDK sees the account it was given', async () => {
    const { client, httpClient } = makeClient();
    const service = await client.chat.v2.services.create({ friendlyName: 's' });
    assert.equal(service.accountSid, ACCOUNT_SID);
    assert.ok(twilio);
    await httpClient.close();
  });
});
