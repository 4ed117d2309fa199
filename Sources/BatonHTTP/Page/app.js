// Baton's page: a chat with the agent and a live view of the gateway, over Baton's own
// API. It never reloads itself: across a restart it shows what happens and carries on
// once the next process answers.

import { Api, newID } from './api.js';
import { Chat, NAME_PATTERN } from './chat.js';
import { GatewayView } from './gateway.js';

/** Set once per load of the page: a reload would make a new one. */
window.batonPage = Object.freeze({ id: newID(), loadedAt: new Date().toISOString() });

const $ = (id) => document.getElementById(id);

const banner = {
  timer: null,
  /** Shows `text`; `kind` colours it (draining, restarting, restarted, offline). */
  show(kind, text, { hideAfter } = {}) {
    clearTimeout(this.timer);
    $('banner').dataset.kind = kind;
    $('banner-text').textContent = text;
    $('banner').hidden = false;
    if (hideAfter) this.timer = setTimeout(() => this.hide(), hideAfter);
  },
  hide() {
    clearTimeout(this.timer);
    $('banner').hidden = true;
    delete $('banner').dataset.kind;
  },
  get kind() {
    return $('banner').hidden ? null : $('banner').dataset.kind;
  },
};

const api = new Api({ askToken });

const chat = new Chat(api, $('log'), {
  onStreamOpen: () => setLink('live', 'live'),
  onStreamDrop: () => setLink('reconnecting', 'reconnecting…'),
  onGoodbye: (goodbye) => {
    if (goodbye.reason === 'restart') {
      banner.show('restarting', 'Baton is restarting. Queued messages are kept, and the next process answers them; this page carries on by itself.');
    } else {
      banner.show('restarting', 'Baton is stopping. Queued messages are kept until it starts again; this page reconnects by itself.');
    }
  },
});

const gateway = new GatewayView(api, {
  state: $('state'),
  drain: $('drain'),
  instance: $('instance'),
  restarted: $('restarted'),
  sessions: $('sessions'),
  inFlight: $('in-flight'),
  queued: $('queued'),
  agent: $('agent'),
  version: $('version'),
  admin: $('admin'),
  notAdmin: $('not-admin'),
}, {
  onStatus: (status, { restarted, previous }) => {
    if (restarted) {
      banner.show('restarted', `Baton restarted: instance ${status.instance} took over from ${previous}.`, { hideAfter: 15000 });
    } else if (status.state === 'draining') {
      const next = status.drain?.reason === 'stop' ? 'until Baton starts again' : 'for the next process';
      banner.show('draining', `Baton is draining for a ${status.drain?.reason ?? 'restart'}: turns in flight finish first; messages sent now wait ${next}.`);
    } else if (status.state === 'stopping') {
      if (banner.kind !== 'restarting') {
        banner.show('restarting', status.drain?.reason === 'stop' ? 'Baton is stopping.' : 'Baton is restarting.');
      }
    } else if (banner.kind !== 'restarted') {
      banner.hide();
    }
  },
  onLost: (last) => {
    if (last?.drain || banner.kind === 'restarting') {
      if (banner.kind !== 'restarting') {
        banner.show('restarting', last?.drain?.reason === 'stop'
          ? 'Baton is stopping. Queued messages are kept until it starts again; this page reconnects by itself.'
          : 'Baton is restarting. Queued messages are kept, and the next process answers them; this page carries on by itself.');
      }
    } else {
      banner.show('offline', 'Lost the connection to Baton; reconnecting…');
    }
  },
});

function setLink(state, text) {
  $('link').dataset.state = state;
  $('link').textContent = text;
}

/** Asks for the API token in a modal dialog; resolves with what was typed. */
function askToken(wasRefused) {
  const dialog = $('token-dialog');
  $('token-why').textContent = wasRefused
    ? 'That token was not accepted. Enter an API token (kept in this tab only):'
    : 'This Baton asks for an API token. It is kept in this tab only.';
  $('token').value = '';
  return new Promise((resolve) => {
    $('token-form').addEventListener('submit', () => resolve($('token').value.trim()), { once: true });
    if (!dialog.open) dialog.showModal();
    $('token').focus();
  });
}
// Without a token the page can do nothing: Escape does not close the dialog.
$('token-dialog').addEventListener('cancel', (event) => event.preventDefault());

// Session and user: from the address (?session=…&user=…), else as last time, else new.
const query = new URLSearchParams(location.search);
$('session').value = query.get('session') ?? localStorage.getItem('baton.session') ?? `web-${newID().slice(4, 10)}`;
$('user').value = query.get('user') ?? localStorage.getItem('baton.user') ?? 'guest';

function openSession() {
  const session = $('session').value.trim();
  const user = $('user').value.trim();
  if (!NAME_PATTERN.test(session) || !NAME_PATTERN.test(user)) {
    $('who').reportValidity();
    return;
  }
  localStorage.setItem('baton.session', session);
  localStorage.setItem('baton.user', user);
  chat.open(session, user);
  gateway.checkAdmin(user);
}

$('who').addEventListener('submit', (event) => {
  event.preventDefault();
  openSession();
  $('text').focus();
});

$('compose').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (text.trim() === '' || chat.session === null) return;
  chat.send(text);
  $('text').value = '';
});

$('text').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('compose').requestSubmit();
  }
});

$('restart').addEventListener('click', () => chat.send('/restart'));
$('restart-now').addEventListener('click', () => chat.send('/restart now'));

gateway.start();
openSession();
