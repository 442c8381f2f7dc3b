'use strict';
// Every Users operation of the official SDK, on every surface userstore serves: Chat v2 and v1
// (also through the ip-messaging host) and Conversations v1 (a named service and the default one).

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { ACCOUNT_SID, NOW, makeClient, rejection } = require('./support');

const RestException = require('twilio/lib/base/RestException').default;

const chatService = async (client) =>
  (await client.chat.v2.services.create({ friendlyName: 'game' })).sid;

const SURFACES = [
  {
    name: 'chat.v2', host: 'chat.twilio.com', serviceField: 'serviceSid',
    users: (client, service) => client.chat.v2.services(service).users,
    listPath: (service) => `/v2/Services/${service}/Users`,
  },
  {
    name: 'chat.v1', host: 'chat.twilio.com', serviceField: 'serviceSid',
    users: (client, service) => client.chat.v1.services(service).users,
    listPath: (service) => `/v1/Services/${service}/Users`,
  },
  {
    name: 'ipMessaging.v2', host: 'ip-messaging.twilio.com', serviceField: 'serviceSid',
    users: (client, service) => client.ipMessaging.v2.services(service).users,
    listPath: (service) => `/v2/Services/${service}/Users`,
  },
  {
    name: 'ipMessaging.v1', host: 'ip-messaging.twilio.com', serviceField: 'serviceSid',
    users: (client, service) => client.ipMessaging.v1.services(service).users,
    listPath: (service) => `/v1/Services/${service}/Users`,
  },
  {
    name: 'conversations.v1.services', host: 'conversations.twilio.com',
    serviceField: 'chatServiceSid',
    users: (client, service) => client.conversations.v1.services(service).users,
    listPath: (service) => `/v1/Services/${service}/Users`,
  },
  {
    name: 'conversations.v1 (default service)', host: 'conversations.twilio.com',
    serviceField: 'chatServiceSid', defaultService: true,
    users: (client) => client.conversations.v1.users,
    listPath: () => '/v1/Users',
  },
];

const IDENTITIES = ['alice', 'bob', 'ana maría@example.com', 'dave', 'eve'];

for (const surface of SURFACES) {
  describe(`users on ${surface.name}`, () => {
    let env;
    let service;
    let users;

    before(async () => {
      env = makeClient();
      service = surface.defaultService ? undefined : await chatService(env.client);
      users = surface.users(env.client, service);
    });
    after(() => env.httpClient.close());

    it('create returns the user with Twilio\'s fields', async () => {
      const user = await users.create({
        identity: 'creator', friendlyName: 'The Creator', attributes: '{"level": 3}',
      });
      assert.match(user.sid, /^US[0-9a-f]{32}$/);
      assert.equal(user.accountSid, ACCOUNT_SID);
      if (service) {
        assert.equal(user[surface.serviceField], service);
      } else {
        assert.match(user[surface.serviceField], /^IS[0-9a-f]{32}$/);
      }
      assert.equal(user.identity, 'creator');
      assert.equal(user.friendlyName, 'The Creator');
      assert.equal(user.attributes, '{"level": 3}');  // verbatim, as a string
      assert.match(user.roleSid, /^RL[0-9a-f]{32}$/);
      assert.deepEqual(user.dateCreated, new Date(NOW));
      assert.deepEqual(user.dateUpdated, new Date(NOW));
      assert.equal(user.url, `https://${surface.host}${surface.listPath(service)}/${user.sid}`);
      await user.remove();
    });

    it('fetch finds a user by SID and by identity', async () => {
      const created = await users.create({ identity: 'ana maría@example.com' });
      const bySid = await users(created.sid).fetch();
      const byIdentity = await users('ana maría@example.com').fetch();
      assert.equal(bySid.sid, created.sid);
      assert.equal(byIdentity.sid, created.sid);
      assert.equal(byIdentity.identity, 'ana maría@example.com');
      assert.equal((await created.fetch()).sid, created.sid);  // through the instance, too
      await created.remove();
    });

    it('update changes what it is given and keeps the rest', async () => {
      const created = await users.create({ identity: 'upd', friendlyName: 'Before' });
      const updated = await users(created.sid).update({ attributes: '{"x":[1,2]}' });
      assert.equal(updated.attributes, '{"x":[1,2]}');
      assert.equal(updated.friendlyName, 'Before');
      assert.equal(updated.roleSid, created.roleSid);
      const again = await updated.update({ friendlyName: 'After' });
      assert.equal(again.friendlyName, 'After');
      const fetched = await users('upd').fetch();
      assert.equal(fetched.friendlyName, 'After');
      assert.equal(fetched.attributes, '{"x":[1,2]}');
      await fetched.remove();
    });

    it('remove deletes the user: later fetches are 404/20404', async () => {
      const created = await users.create({ identity: 'gone' });
      assert.equal(await users(created.sid).remove(), true);
      const err = await rejection(users(created.sid).fetch());
      assert.ok(err instanceof RestException);
      assert.equal(err.status, 404);
      assert.equal(err.code, 20404);
      assert.equal((await users.list()).some((u) => u.sid === created.sid), false);
    });

    describe('across pages of two', () => {
      let created;
      before(async () => {
        created = [];
        for (const identity of IDENTITIES) created.push(await users.create({ identity }));
      });

      it('list({pageSize: 2}) follows next_page_url to the end', async () => {
        const before = env.requests.length;
        const listed = await users.list({ pageSize: 2 });
        assert.deepEqual(listed.map((u) => u.identity), IDENTITIES);
        assert.deepEqual(listed.map((u) => u.sid), created.map((u) => u.sid));
        const pages = env.requests.slice(before);
        assert.equal(pages.length, 3);
        assert.ok(pages.every((r) => r.method === 'get'));
        assert.equal(pages[0].params.PageSize, 2);
        assert.match(pages[1].uri, /[?&]PageToken=/);
        assert.match(pages[2].uri, /[?&]PageToken=/);
      });

      it('list with a limit stops early', async () => {
        const listed = await users.list({ pageSize: 2, limit: 3 });
        assert.deepEqual(listed.map((u) => u.identity), IDENTITIES.slice(0, 3));
      });

      it('each() visits every user in creation order', async () => {
        const seen = [];
        await new Promise((resolve, reject) => {
          users.each({
            pageSize: 2,
            callback: (user) => seen.push(user.identity),
            done: (err) => (err ? reject(err) : resolve()),
          });
        });
        assert.deepEqual(seen, IDENTITIES);
      });

      it('page() walks forward and back', async () => {
        const first = await users.page({ pageSize: 2 });
        assert.deepEqual(first.instances.map((u) => u.identity), IDENTITIES.slice(0, 2));
        assert.equal(first.previousPageUrl, undefined);
        const second = await first.nextPage();
        assert.deepEqual(second.instances.map((u) => u.identity), IDENTITIES.slice(2, 4));
        const third = await second.nextPage();
        assert.deepEqual(third.instances.map((u) => u.identity), IDENTITIES.slice(4));
        assert.equal(third.nextPageUrl, undefined);
        assert.equal(third.nextPage(), undefined);
        const back = await third.previousPage();
        assert.deepEqual(back.instances.map((u) => u.identity), IDENTITIES.slice(2, 4));
        const direct = await users.getPage(second.nextPageUrl);
        assert.deepEqual(direct.instances.map((u) => u.identity), IDENTITIES.slice(4));
      });
    });

    it('errors come back as RestException with Twilio\'s code and status', async () => {
      await users.create({ identity: 'dup' });
      const conflict = await rejection(users.create({ identity: 'dup' }));
      assert.ok(conflict instanceof RestException);
      assert.equal(conflict.status, 409);
      assert.equal(conflict.code, 50201);
      assert.equal(conflict.moreInfo, 'https://www.twilio.com/docs/errors/50201');

      const badJson = await rejection(users.create({ identity: 'bad', attributes: '{nope' }));
      assert.equal(badJson.status, 400);
      assert.equal(badJson.code, 50304);

      const missing = await rejection(users('nobody').fetch());
      assert.equal(missing.status, 404);
      assert.equal(missing.code, 20404);
      assert.match(missing.message, /Users\/nobody was not found/);

      const updateMissing = await rejection(users('nobody').update({ friendlyName: 'x' }));
      assert.equal(updateMissing.code, 20404);
      const removeMissing = await rejection(users('nobody').remove());
      assert.equal(removeMissing.code, 20404);
    });

    if (!surface.defaultService) {
      it('an unknown service is 404/20404', async () => {
        const ghost = surface.users(env.client, 'IS' + '0'.repeat(32));
        const err = await rejection(ghost.create({ identity: 'x' }));
        assert.equal(err.status, 404);
        assert.equal(err.code, 20404);
        assert.equal((await rejection(ghost.list())).code, 20404);
      });
    }
  });
}
