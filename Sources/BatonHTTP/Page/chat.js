// The chat: one session's messages, replies and notices, and sending with resends.

import { EventStream, newID, sleep } from './api.js';

const NOTICE_LABELS = {
  queued: 'Queued',
  rejected: 'Rejected',
  draining: 'Draining',
  interrupted: 'Interrupted',
  restarted: 'Restarted',
  status: 'Status',
  error: 'Error',
};

// A message's state only moves forward: a late answer must not undo a reply.
const RANK = { sending: 0, rejected: 0, accepted: 1, queued: 1, interrupted: 2, answered: 3, failed: 3, done: 3 };

/** Names the page takes: short and plain. It percent-encodes them into URLs all the same, and Baton decodes them. */
export const NAME_PATTERN = /^[A-Za-z0-9._~:@!+-]{1,100}$/;

export class Chat {
  /**
   * @param {Api} api
   * @param {HTMLOListElement} log where messages, replies and notices are listed.
   * @param {{onGoodbye, onStreamOpen, onStreamDrop}} handlers
   */
  constructor(api, log, handlers) {
    this.api = api;
    this.log = log;
    this.handlers = handlers;
    this.session = null;
    this.user = null;
    this.stream = null;
    /** Messages sent from this page, by id. */
    this.messages = new Map();
  }

  /** Shows `session` from its first event on, and sends as `user` from now on. */
  open(session, user) {
    this.user = user;
    if (session === this.session) return;
    this.stream?.stop();
    this.session = session;
    this.messages = new Map();
    this.log.replaceChildren();
    this.stream = new EventStream(this.api, `/v1/sessions/${encodeURIComponent(session)}/events`, {
      onEvent: (event) => this.receive(event),
      onOpen: () => this.handlers.onStreamOpen?.(),
      onDrop: () => this.handlers.onStreamDrop?.(),
    });
    this.stream.start();
  }

  /** Sends `text` (a message or a chat command such as /restart) and follows its state. */
  send(text) {
    const message = {
      id: newID(), session: this.session, user: this.user, text, state: 'sending', element: null, forNextProcess: false,
    };
    message.element = this.renderMine(message);
    this.messages.set(message.id, message);
    this.append(message.element);
    this.deliver(message);
    return message;
  }

  /** Posts the message until Baton answers; a resend carries the same id, so it is never run twice. */
  async deliver(message) {
    const body = JSON.stringify({ session: message.session, user: message.user, text: message.text, id: message.id });
    for (let attempt = 1; ; attempt += 1) {
      let response;
      let answer;
      try {
        response = await this.api.fetch('/v1/messages', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body,
        });
        answer = await response.json().catch(() => ({}));
      } catch {
        // No answer: the connection dropped, or no process listens right now (a restart).
        this.update(message, 'sending', 'no answer yet; sending again');
        await sleep(Math.min(1000 * attempt, 5000));
        continue;
      }
      if (response.status === 202) return this.acknowledged(message, answer);
      if (response.status === 503 && answer.status === 'rejected') {
        const seconds = Number(response.headers.get('Retry-After')) || 5;
        const why = answer.reason === 'draining' ? 'Baton is draining' : 'the session is busy';
        this.update(message, 'rejected', `${why}; sending again in ${seconds} s`);
        await sleep(seconds * 1000);
        continue;
      }
      if (response.status >= 500) {
        this.update(message, 'sending', `HTTP ${response.status}; sending again`);
        await sleep(Math.min(1000 * attempt, 5000));
        continue;
      }
      return this.update(message, 'failed', answer.error ?? `HTTP ${response.status}`);
    }
  }

  acknowledged(message, answer) {
    switch (answer.status) {
      case 'accepted': return this.update(message, 'accepted', 'being answered');
      case 'queued': return this.update(message, 'queued', this.whereQueued(message, answer.position));
      case 'restarting': return this.update(message, 'done', `restart requested; ${answer.in_flight} in flight`);
      case 'answered': return this.update(message, 'done', 'answered below');
      default: return this.update(message, 'accepted', '');
    }
  }

  receive(event) {
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (event.type) {
      case 'reply': return this.reply(payload);
      case 'notice': return this.notice(payload);
      case 'goodbye': return this.goodbye(payload);
    }
  }

  reply(payload) {
    const message = this.messages.get(payload.in_reply_to);
    if (message) this.update(message, 'answered', '');
    const item = element('li', { class: 'item reply', 'data-reply-to': payload.in_reply_to ?? '' });
    const about = message ? `in reply to “${shorten(message.text)}”` : 'in reply to an earlier message';
    item.append(
      element('div', { class: 'meta' }, element('span', { class: 'who' }, 'agent'), element('span', {}, about)),
      element('p', { class: 'text' }, payload.text ?? ''),
    );
    this.append(item);
  }

  notice(payload) {
    const message = payload.message ? this.messages.get(payload.message) : undefined;
    if (message) {
      switch (payload.kind) {
        case 'queued': this.update(message, 'queued', this.whereQueued(message, payload.position)); break;
        case 'draining':
          message.forNextProcess = true;
          this.update(message, 'queued', this.whereQueued(message, payload.position));
          break;
        case 'interrupted': this.update(message, 'interrupted', payload.text); break;
        case 'error': this.update(message, 'failed', ''); break;
      }
    }
    const label = NOTICE_LABELS[payload.kind] ?? payload.kind;
    const item = element('li', { class: 'item notice', 'data-kind': payload.kind },
      element('span', { class: 'kind' }, label),
      element('span', { class: 'text' }, payload.text ?? ''));
    this.append(item);
  }

  goodbye(payload) {
    const what = payload.reason === 'restart' ? 'is restarting' : 'is stopping';
    this.append(element('li', { class: 'divider', 'data-kind': 'goodbye' }, `Baton ${payload.instance} ${what}`));
    this.handlers.onGoodbye?.(payload);
  }

  /** Where a queued message waits: behind others, or (during a drain) for the next process. */
  whereQueued(message, position) {
    if (message.forNextProcess) return 'for the next process';
    return position > 0 ? `${position} ahead` : '';
  }

  /** Moves the message to `state` (never back) and says more in `detail`. */
  update(message, state, detail) {
    if (RANK[state] < RANK[message.state]) return;
    message.state = state;
    message.element.dataset.state = state;
    message.element.querySelector('.badge').textContent = state;
    message.element.querySelector('.detail').textContent = detail ?? '';
  }

  renderMine(message) {
    const item = element('li', { class: 'item mine', 'data-id': message.id, 'data-state': message.state });
    item.append(
      element('div', { class: 'meta' },
        element('span', { class: 'who' }, message.user),
        element('span', { class: 'badge' }, message.state),
        element('span', { class: 'detail' }, '')),
      element('p', { class: 'text' }, message.text),
    );
    return item;
  }

  /** Adds an item, keeping the newest in view unless the reader scrolled up. */
  append(item) {
    const log = this.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}

function shorten(text) {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** An element with attributes and children (text children as text, never as HTML). */
export function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}
