// Baton's HTTP API as the page uses it: the API token, requests, and event streams.
//
// Event streams are read with fetch() rather than EventSource, for two reasons:
// EventSource cannot send an Authorization header (and a token in the URL would end up
// in logs), and it gives up for good on an answer that is not 200, such as the 503 or
// the refused connection a restart may bring. This reader keeps EventSource's rules
// (Last-Event-ID on reconnect, the server's retry: delay) and never gives up.

const TOKEN_KEY = 'baton.token';

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A fresh idempotency id; crypto.randomUUID needs a secure context, this does not. */
export function newID() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Api {
  /**
   * @param {(wasRefused: boolean) => Promise<string>} askToken asks the person for a token.
   * @param {(instance: string) => void} onInstance told the Baton-Instance of every answer.
   */
  constructor({ askToken, onInstance }) {
    this.askToken = askToken;
    this.onInstance = onInstance;
    this.token = sessionStorage.getItem(TOKEN_KEY);
    this.asking = null;
  }

  /** fetch() with the token; a 401 asks for a token (once for all callers) and tries again. */
  async fetch(path, init = {}) {
    for (;;) {
      const token = this.token;
      const headers = { ...init.headers };
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(path, { ...init, headers, cache: 'no-store' });
      const instance = response.headers.get('Baton-Instance');
      if (instance) this.onInstance?.(instance);
      if (response.status !== 401) return response;
      await this.tokenRefused(token);
    }
  }

  /** GET a JSON body; throws on any status but 200. */
  async json(path, init) {
    const response = await this.fetch(path, init);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  async tokenRefused(refused) {
    // Another call already got a new token while this one was on its way.
    if (this.token !== refused) return;
    if (!this.asking) {
      this.asking = this.askToken(refused !== null).then((token) => {
        this.token = token;
        sessionStorage.setItem(TOKEN_KEY, token);
        this.asking = null;
      });
    }
    await this.asking;
  }
}

/**
 * A Server-Sent Events stream that reconnects for ever, resuming after the last event id.
 *
 * `onEvent({type, data, id})` for each event; `onOpen()` once a connection is up;
 * `onDrop()` when it ends or fails, before the wait to reconnect.
 */
export class EventStream {
  constructor(api, path, { onEvent, onOpen, onDrop }) {
    this.api = api;
    this.path = path;
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.onDrop = onDrop;
    this.lastEventID = null;
    this.retry = 1000;
    this.controller = null;
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
  }

  async run(signal) {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const headers = { Accept: 'text/event-stream' };
        if (this.lastEventID !== null) headers['Last-Event-ID'] = this.lastEventID;
        const response = await this.api.fetch(this.path, { headers, signal });
        const type = response.headers.get('Content-Type') ?? '';
        if (!response.ok || !type.startsWith('text/event-stream')) {
          await response.body?.cancel();
          throw new Error(`${this.path}: HTTP ${response.status}`);
        }
        failures = 0;
        this.onOpen?.();
        await this.read(response.body);
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
      }
      if (signal.aborted) return;
      this.onDrop?.();
      // A stream that ended waits the server's retry; failing ones back off, up to 5 s.
      await sleep(Math.min(this.retry * Math.max(1, failures), 5000), signal);
    }
  }

  /**
   * Reads `text/event-stream` until it ends (or the fetch's signal aborts it).
   * Baton ends lines with \n; \r\n is accepted. An event's id counts for a resume only
   * once the event is whole (its blank line read): an event cut off mid-way is asked for
   * again.
   */
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = '';
    let data = [];
    let id = this.lastEventID;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n')) >= 0) {
        let line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          this.lastEventID = id;
          if (data.length > 0) {
            this.onEvent({ type: type || 'message', data: data.join('\n'), id: this.lastEventID });
          }
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let content = colon < 0 ? '' : line.slice(colon + 1);
        if (content.startsWith(' ')) content = content.slice(1);
        switch (field) {
          case 'event': type = content; break;
          case 'data': data.push(content); break;
          case 'id': if (!content.includes('\0')) id = content; break;
          case 'retry': if (/^\d+$/.test(content)) this.retry = Number(content); break;
        }
      }
    }
  }
}
