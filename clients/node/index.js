'use strict';
// An `httpClient` for Twilio's Node.js SDK (the npm `twilio` package, 5.x) that answers every
// request from a `userstore replay` co-process instead of Twilio:
//
//   const twilio = require('twilio');
//   const { createUserstoreHttpClient } = require('./clients/node');
//   const httpClient = createUserstoreHttpClient({ binary: 'build/release/userstore', seed: 1 });
//   const client = twilio('AC' + '0'.repeat(32), 'token', { httpClient });
//   const service = await client.chat.v2.services.create({ friendlyName: 'game' });
//   const alice = await client.chat.v2.services(service.sid).users.create({ identity: 'alice' });
//   ...
//   await httpClient.close();
//
// The object implements what the SDK's own RequestClient offers (lib/base/RequestClient.js):
// `request(opts)` resolving to `{statusCode, body, headers}` with `body` the raw response text,
// and `lastRequest` / `lastResponse`. Each request becomes one JSON line on the co-process's
// standard input ({"method","url","headers","form"}, docs/replay.md) and its answer is the next
// line on its standard output. Requests are sent one at a time, in call order; the others wait in
// a queue. Only Node's standard library is used.

const childProcess = require('child_process');

const DEFAULT_TIMEOUT_MS = 30000;  // RequestClient's default
const STDERR_TAIL_BYTES = 4096;

// The form encoding of the SDK's RequestClient: `qs.stringify(data, {arrayFormat: 'repeat'})`,
// i.e. RFC 3986 percent-encoding (a space is %20), arrays as repeated keys, nested objects as
// `key[sub]`, `undefined` skipped, `null` as an empty value, dates as ISO strings.
function encodeComponent(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function scalarText(value) {
  if (value === null) return '';
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

function appendPairs(pairs, key, value) {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) appendPairs(pairs, key, item);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [sub, item] of Object.entries(value)) appendPairs(pairs, `${key}[${sub}]`, item);
  } else {
    pairs.push(encodeComponent(key) + '=' + encodeComponent(scalarText(value)));
  }
}

function formEncode(data) {
  if (data === undefined || data === null) return '';
  if (typeof data === 'string') return data;
  const pairs = [];
  for (const [key, value] of Object.entries(data)) appendPairs(pairs, key, value);
  return pairs.join('&');
}

function headerValue(headers, name) {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers || {})) {
    if (key.toLowerCase() === lower) return value;
  }
  return undefined;
}

// The span [start, end) of the value of the top-level member `name` in the JSON object `text`,
// or null. REQUIRES: `text` is valid JSON (it was parsed first). Used to hand the SDK the body
// exactly as the tool wrote it, not a re-serialization.
function memberSpan(text, name) {
  let depth = 0;
  let inKey = false;  // at depth 1: reading a member name (else a value)
  let key = null;     // the last member name read at depth 1
  let start = -1;     // where the wanted value starts
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && inKey) key = JSON.parse(text.slice(i, j + 1));
      i = j;
    } else if (c === '{' || c === '[') {
      ++depth;
      if (depth === 1) inKey = true;
    } else if (c === '}' || c === ']' || c === ',') {
      if (depth === 1 && start >= 0) return [start, i];
      if (c !== ',') {
        --depth;
      } else if (depth === 1) {
        inKey = true;
      }
    } else if (c === ':' && depth === 1) {
      inKey = false;
      if (key === name) start = i + 1;
    }
  }
  return null;
}

// Parses one answer line: {"status":S,"body":B} or {"status":S,"headers":{...},"body":B}.
function parseAnswer(line) {
  let answer;
  try {
    answer = JSON.parse(line);
  } catch (err) {
    throw new Error(`userstore replay wrote a line that is not JSON: ${line.slice(0, 200)}`);
  }
  if (answer === null || typeof answer !== 'object' || !Number.isInteger(answer.status)) {
    throw new Error(`userstore replay wrote a line without a status: ${line.slice(0, 200)}`);
  }
  let rawBody = '';
  if (answer.body !== null && answer.body !== undefined) {
    const span = memberSpan(line, 'body');
    rawBody = span ? line.slice(span[0], span[1]).trim() : JSON.stringify(answer.body);
  }
  const headers = {};
  if (answer.headers !== null && typeof answer.headers === 'object') {
    // Node's http module, and so axios under the SDK's RequestClient, names headers in lower case.
    for (const [key, value] of Object.entries(answer.headers)) headers[key.toLowerCase()] = value;
  }
  return { status: answer.status, body: answer.body, rawBody, headers };
}

// What the SDK's RequestClient keeps as `lastRequest` (twilio/lib/http/request.js), as a plain
// object: method, url, auth, params, data, headers.
class UserstoreRequest {
  constructor(opts) {
    this.method = opts.method;
    this.url = opts.url;
    this.auth = opts.auth;
    this.params = opts.params;
    this.data = opts.data;
    this.headers = opts.headers;
  }
}

// What the SDK's RequestClient keeps as `lastResponse` (twilio/lib/http/response.js).
class UserstoreResponse {
  constructor(statusCode, body, headers) {
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }

  toString() {
    return 'HTTP ' + this.statusCode + ' ' + this.body;
  }
}

class UserstoreHttpClient {
  // See createUserstoreHttpClient for the options.
  constructor(opts) {
    opts = opts || {};
    const binary = opts.binary || process.env.USERSTORE_BIN;
    if (!binary) {
      throw new Error('createUserstoreHttpClient: no userstore binary: pass opts.binary or set ' +
                      'USERSTORE_BIN to the path of the built `userstore` tool');
    }
    const args = ['replay'];
    if (opts.seed !== undefined && opts.seed !== null) args.push('--seed', String(opts.seed));
    if (opts.now !== undefined && opts.now !== null) {
      args.push('--now', opts.now instanceof Date
        ? opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z') : String(opts.now));
    }
    if (opts.accountSid) args.push('--account-sid', String(opts.accountSid));
    if (opts.args !== undefined) {
      if (!Array.isArray(opts.args)) {
        throw new TypeError('createUserstoreHttpClient: opts.args must be an array of strings');
      }
      args.push(...opts.args.map(String));
    }

    this.binary = binary;
    this.args = args;
    this.timeout = opts.timeout === undefined ? DEFAULT_TIMEOUT_MS : opts.timeout;
    this.lastRequest = undefined;
    this.lastResponse = undefined;

    this._queue = [];         // {line, timeout, resolve, reject} waiting to be written
    this._inFlight = null;    // the one written and not yet answered
    this._stdout = '';        // output not yet split into lines
    this._stderr = '';        // the last STDERR_TAIL_BYTES of the tool's standard error
    this._failure = null;     // set once the co-process is unusable: every call rejects with it
    this._closing = null;     // the promise close() returns, once called
    this._exit = null;        // {code, signal} once the co-process has exited
    this._exitWaiters = [];

    this._child = childProcess.spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this._child.stdout.setEncoding('utf8');
    this._child.stderr.setEncoding('utf8');
    this._child.stdout.on('data', (chunk) => this._onStdout(chunk));
    this._child.stderr.on('data', (chunk) => {
      this._stderr = (this._stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    this._child.stdin.on('error', (err) => {
      this._fail(this._describe(`cannot write to it (${err.message})`));
    });
    this._child.on('error', (err) => {
      this._fail(new Error(`userstore replay: cannot run '${binary}': ${err.message}`));
      this._onExit(null, null);
    });
    this._child.on('close', (code, signal) => {
      this._onExit(code, signal);
      if (!this._failure && (this._inFlight || this._queue.length > 0 || !this._closing)) {
        this._fail(this._describe('it exited'));
      }
    });
    this._setReferenced(false);
  }

  // Sends one request of the SDK (BaseTwilio.request passes method, uri, username, password,
  // authStrategy, headers, params, data, timeout, allowRedirects, logLevel) and resolves to
  // {statusCode, body, headers}: `body` is the response JSON as text, '' for a 204; `headers`
  // are the response headers the tool reported (e.g. `retry-after`), lower-cased. Rejects (an
  // Error, never a RestException: the SDK makes those from the status) when the co-process cannot
  // answer: it is missing, exited, closed, wrote something that is not an answer, or took longer
  // than the timeout (after which it is stopped, since its answers would no longer match).
  request(opts) {
    opts = opts || {};
    if (!opts.method) return Promise.reject(new Error('http method is required'));
    if (!opts.uri) return Promise.reject(new Error('uri is required'));
    const method = String(opts.method).toUpperCase();
    const headers = {};
    for (const [key, value] of Object.entries(opts.headers || {})) {
      if (value !== undefined && value !== null) headers[key] = String(value);
    }
    let auth;
    if (opts.username && opts.password) {
      auth = Buffer.from(opts.username + ':' + opts.password).toString('base64');
      headers.Authorization = 'Basic ' + auth;
    }
    let url = String(opts.uri);
    const query = formEncode(opts.params);
    if (query) url += (url.includes('?') ? '&' : '?') + query;
    const line = { method, url, headers };
    // As RequestClient: the data is sent form-encoded, or as JSON for a JSON content type. (The
    // tool makes a GET's form its query string; the SDK sends no data with a GET.)
    if (opts.data !== undefined && opts.data !== null) {
      const type = headerValue(headers, 'Content-Type');
      line.form = type === 'application/json' ? JSON.stringify(opts.data) : formEncode(opts.data);
    }
    this.lastResponse = undefined;
    this.lastRequest = new UserstoreRequest({
      method: opts.method, url: opts.uri, auth, params: opts.params, data: opts.data, headers,
    });
    const timeout = opts.timeout || this.timeout;
    return this._send(JSON.stringify(line), timeout).then((answer) => {
      const response = { statusCode: answer.status, body: answer.rawBody, headers: answer.headers };
      this.lastResponse =
          new UserstoreResponse(response.statusCode, response.body, response.headers);
      return response;
    });
  }

  // Sends a control line (e.g. {control: 'fault', status: 429, code: 20429, method: 'GET',
  // path: '*/Users/*', times: 1}; docs/replay.md lists them) in turn with the requests, and
  // resolves to its answer's body (an object). Rejects with an Error carrying `status` and `body`
  // when the tool refuses the line (any status but 2xx), and as `request` when it cannot answer.
  control(obj) {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || !obj.control) {
      return Promise.reject(
          new TypeError('control(obj): obj must be an object with a "control" member'));
    }
    return this._send(JSON.stringify(obj), this.timeout).then((answer) => {
      if (answer.status < 200 || answer.status >= 300) {
        const message = answer.body && answer.body.message ? answer.body.message : answer.rawBody;
        const err = new Error(
            `userstore replay refused the control line (${answer.status}): ${message}`);
        err.status = answer.status;
        err.body = answer.body;
        throw err;
      }
      return answer.body;
    });
  }

  // Lets the queued requests finish, then closes the co-process's standard input and resolves to
  // {code, signal} once it has exited (code 0: it read every line). Later calls of request and
  // control reject. Idempotent.
  close() {
    if (this._closing) return this._closing;
    this._closing = new Promise((resolve) => {
      if (this._exit) {
        resolve(this._exit);
      } else {
        this._exitWaiters.push(resolve);
      }
    });
    if (!this._exit) {
      this._setReferenced(true);
      this._maybeEndInput();
    }
    return this._closing;
  }

  // The process id of the co-process (for diagnostics).
  get pid() {
    return this._child.pid;
  }

  _send(line, timeout) {
    if (this._failure) return Promise.reject(this._failure);
    if (this._closing) return Promise.reject(new Error('userstore replay: the client is closed'));
    return new Promise((resolve, reject) => {
      this._queue.push({ line, timeout, resolve, reject });
      this._pump();
    });
  }

  _pump() {
    if (this._inFlight || this._failure) return;
    const next = this._queue.shift();
    if (!next) {
      this._setReferenced(this._closing !== null && this._exit === null);
      this._maybeEndInput();
      return;
    }
    this._setReferenced(true);
    this._inFlight = next;
    if (next.timeout > 0) {
      next.timer = setTimeout(() => {
        this._fail(this._describe(`no answer within ${next.timeout} ms`));
        this._child.kill();
      }, next.timeout);
    }
    this._child.stdin.write(next.line + '\n');
  }

  _onStdout(chunk) {
    this._stdout += chunk;
    let newline;
    while ((newline = this._stdout.indexOf('\n')) >= 0) {
      const line = this._stdout.slice(0, newline);
      this._stdout = this._stdout.slice(newline + 1);
      const pending = this._inFlight;
      if (!pending) {
        this._fail(this._describe(`it wrote a line nobody asked for: ${line.slice(0, 200)}`));
        return;
      }
      let answer;
      try {
        answer = parseAnswer(line);
      } catch (err) {
        this._fail(err);
        this._child.kill();
        return;
      }
      clearTimeout(pending.timer);
      this._inFlight = null;
      pending.resolve(answer);
      this._pump();
    }
  }

  _maybeEndInput() {
    const idle = !this._inFlight && this._queue.length === 0;
    if (this._closing && idle && !this._child.stdin.destroyed) {
      this._child.stdin.end();
    }
  }

  // Rejects the request in flight and every queued one with `err`, and every later call.
  _fail(err) {
    if (this._failure) return;
    this._failure = err;
    const pending = this._inFlight ? [this._inFlight, ...this._queue] : this._queue;
    this._inFlight = null;
    this._queue = [];
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._setReferenced(this._exit === null && this._closing !== null);
  }

  _onExit(code, signal) {
    if (this._exit) return;
    this._exit = { code, signal };
    for (const resolve of this._exitWaiters) resolve(this._exit);
    this._exitWaiters = [];
  }

  _describe(what) {
    let exit = '';
    if (this._exit) {
      const how = this._exit.signal ? `signal ${this._exit.signal}` : `code ${this._exit.code}`;
      exit = ` (exit ${how})`;
    }
    const stderr = this._stderr.trim() ? `; its standard error: ${this._stderr.trim()}` : '';
    return new Error(`userstore replay (${this.binary}): ${what}${exit}${stderr}`);
  }

  // An idle co-process does not keep Node's event loop alive (a test that forgets close() still
  // ends: the tool then reads end of input and exits); a busy one does.
  _setReferenced(on) {
    const handles = [this._child, this._child.stdin, this._child.stdout, this._child.stderr];
    for (const handle of handles) {
      if (!handle) continue;
      if (on && typeof handle.ref === 'function') handle.ref();
      if (!on && typeof handle.unref === 'function') handle.unref();
    }
  }
}

// Starts `userstore replay` as a co-process and returns a client for it, to be passed as the
// `httpClient` option of the `twilio` package: `twilio(accountSid, authToken, { httpClient })`.
// Each client has its own co-process, hence its own empty store.
//
// opts:
//   binary      path of the `userstore` tool (default: the USERSTORE_BIN environment variable)
//   seed        --seed N: deterministic SIDs and page tokens
//   now         --now TIME (a Date, or '2026-01-01T00:00:00Z'): a fixed clock
//   accountSid  --account-sid AC...: the account SID in every response
//   args        more arguments for `userstore replay`, as an array of strings
//   timeout     milliseconds to wait for one answer before giving up on the co-process (default
//               30000, as the SDK's RequestClient; 0: wait forever)
//
// Throws when no binary is named; a binary that cannot be run makes the first request reject.
function createUserstoreHttpClient(opts) {
  return new UserstoreHttpClient(opts);
}

module.exports = {
  createUserstoreHttpClient,
  UserstoreHttpClient,
  formEncode,
};
