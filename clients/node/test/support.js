'use strict';
// Shared by the tests: a `twilio` client whose httpClient is a fresh `userstore replay`.

const path = require('path');

const twilio = require('twilio');

const { createUserstoreHttpClient } = require('..');

const ACCOUNT_SID = 'AC' + '0123456789abcdef'.repeat(2);
const NOW = '2026-01-01T00:00:00Z';

function userstoreBinary() {
  const binary = process.env.USERSTORE_BIN;
  if (!binary) {
    throw new Error('USERSTORE_BIN must name the built `userstore` tool (run_tests.sh sets it)');
  }
  return path.resolve(binary);
}

// A fresh store behind the official SDK. `requests` records what the SDK asked the httpClient
// for, in order ({method, uri, params}).
function makeClient(opts) {
  const httpClient = createUserstoreHttpClient({
    binary: userstoreBinary(), seed: 7, now: NOW, accountSid: ACCOUNT_SID, ...opts,
  });
  const requests = [];
  const request = httpClient.request.bind(httpClient);
  const recording = {
    request(o) {
      requests.push({ method: o.method, uri: o.uri, params: o.params });
      return request(o);
    },
  };
  const client = twilio(ACCOUNT_SID, 'not-a-real-token', { httpClient: recording });
  return { client, httpClient, requests };
}

// Resolves to the error `promise` rejects with; fails when it resolves.
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

module.exports = { ACCOUNT_SID, NOW, makeClient, rejection, twilio, userstoreBinary };
