// The live view of the gateway, from GET /v1/status/events (no polling), and the
// Restart controls admins see.

import { EventStream } from './api.js';

export class GatewayView {
  /**
   * @param {Api} api
   * @param {Record<string, HTMLElement>} elements the fields of the view, by name.
   * @param {{onStatus, onLost}} handlers `onStatus(status, {restarted, previous})` on every
   *   status; `onLost(lastStatus)` when the stream dropped.
   */
  constructor(api, elements, handlers) {
    this.api = api;
    this.elements = elements;
    this.handlers = handlers;
    this.status = null;
    /** The first instance this page saw, and the latest. */
    this.firstInstance = null;
    this.instance = null;
    /** When the drain's deadline falls, on this page's clock (performance.now()). */
    this.drainEndsAt = null;
    this.ticker = null;
    this.user = null;
    this.stream = new EventStream(api, '/v1/status/events', {
      onEvent: (event) => event.type === 'status' && this.show(JSON.parse(event.data)),
      onDrop: () => this.lost(),
    });
  }

  start() {
    this.stream.start();
  }

  show(status) {
    const previous = this.instance;
    const restarted = previous !== null && status.instance !== previous;
    this.firstInstance ??= status.instance;
    this.instance = status.instance;
    this.status = status;
    const e = this.elements;
    setState(e.state, status.state, status.state);
    e.instance.textContent = status.instance;
    e.restarted.hidden = status.instance === this.firstInstance;
    e.restarted.textContent = `restarted (was ${this.firstInstance})`;
    e.sessions.textContent = status.sessions;
    e.inFlight.textContent = status.in_flight;
    e.queued.textContent = status.queued;
    e.agent.textContent = `${status.agent.kind} · ${status.agent.health}`;
    e.version.textContent = status.version;
    this.drainEndsAt = status.drain ? performance.now() + status.drain.seconds_left * 1000 : null;
    this.showDrain();
    clearInterval(this.ticker);
    this.ticker = this.drainEndsAt !== null && status.state === 'draining' ? setInterval(() => this.showDrain(), 1000) : null;
    this.handlers.onStatus?.(status, { restarted, previous });
  }

  /** The drain line, counting its seconds down between status events. */
  showDrain() {
    const status = this.status;
    const drain = status?.drain;
    if (!drain) {
      this.elements.drain.textContent = 'none';
      return;
    }
    const left = Math.max(0, Math.ceil((this.drainEndsAt - performance.now()) / 1000));
    this.elements.drain.textContent = status.state === 'draining'
      ? `for ${drain.reason}: ${status.in_flight} in flight, ${left} s left`
      : `for ${drain.reason}: done`;
  }

  lost() {
    clearInterval(this.ticker);
    this.ticker = null;
    const last = this.status;
    const restarting = last?.drain?.reason === 'restart';
    setState(this.elements.state, 'offline', restarting ? 'restarting' : 'unreachable');
    this.handlers.onLost?.(last);
  }

  /** Shows the Restart controls when `user` is an admin. */
  async checkAdmin(user) {
    this.user = user;
    this.elements.admin.hidden = true;
    this.elements.notAdmin.hidden = false;
    try {
      const answer = await this.api.json(`/v1/users/${encodeURIComponent(user)}`);
      if (this.user !== user) return;
      this.elements.admin.hidden = !answer.admin;
      this.elements.notAdmin.hidden = answer.admin;
    } catch {
      // Not known now; the gateway checks again when /restart arrives.
    }
  }
}

function setState(element, state, text) {
  element.dataset.state = state;
  element.textContent = text;
}
