// parley demo client: speaks the client protocol of docs/protocol.md over
// one WebSocket. No framework and no build step: read it top to bottom.
//
// Elements the end-to-end test drives have an id (singletons) or a
// data-testid (list items); keep them stable.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const REQUEST_TIMEOUT_MS = 10000;
  const MAX_BACKOFF_MS = 30000;
  const HISTORY_PAGE = 50; // C2C messages per history_c2c
  const GROUP_HISTORY_PAGE = 20; // the most group_msg_get_simple gives
  // admin_getroammsg wants a time window; the year 2100 covers all of it.
  const END_OF_TIME = 4102444800;
  // Kicks after which reconnecting cannot help: the login was refused, or
  // this session was replaced by a newer one of the same user.
  const FINAL_KICKS = new Set([4001, 4009]);

  // A FAIL reply, a kick, or a local failure (code 0).
  class ParleyError extends Error {
    constructor(code, info) {
      super(info);
      this.code = code;
    }
  }

  const state = {
    creds: null,        // {sdkappid, user, sig, platform, wsURL}; null when logged out
    ws: null,           // the current socket; frames of any other are ignored
    stopped: false,     // no reconnect (login refused, final kick, logout)
    online: false,
    nextId: 1,
    pending: new Map(), // request id -> {resolve, reject, timer}
    heartbeat: 0,
    attempt: 0,         // failed connects since the last login
    retryTimer: 0,
    ready: false,       // conversations loaded: pushes may be applied
    held: [],           // pushes that arrived before
    chain: Promise.resolve(), // pushes are applied one after another
    cursors: new Map(), // ConversationID -> seq of the last change applied
    convs: new Map(),   // ConversationID -> conversation (see ensureConv)
    open: null,         // ConversationID shown in the pane
    paneToken: 0,       // bumps when the pane changes: stale history is dropped
    readInFlight: false,
    readAgain: false,
  };

  // ---- errors and status -------------------------------------------------

  function showError(err) {
    if (!state.creds) return; // a request cut short by logging out
    const el = $('error');
    const code = err instanceof ParleyError ? err.code : 0;
    el.textContent = code ? `ErrorCode ${code}: ${err.message}` : String(err.message || err);
    el.dataset.code = String(code);
    el.hidden = false;
  }

  function setStatus(s, text) {
    const el = $('status');
    el.dataset.state = s;
    el.textContent = text || s;
  }

  // ---- the connection ----------------------------------------------------

  function request(op, data) {
    return new Promise((resolve, reject) => {
      const ws = state.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new ParleyError(0, `${op}: not connected`));
        return;
      }
      const id = String(state.nextId++);
      const timer = setTimeout(() => {
        state.pending.delete(id);
        reject(new ParleyError(0, `${op}: no reply in ${REQUEST_TIMEOUT_MS / 1000}s`));
      }, REQUEST_TIMEOUT_MS);
      state.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ op, id, data: data || {} }));
    });
  }

  function connect() {
    clearTimeout(state.retryTimer);
    setStatus('connecting');
    const ws = new WebSocket(state.creds.wsURL, 'parley.v1');
    state.ws = ws;
    state.ready = false;
    state.held = [];
    ws.onopen = () => { if (ws === state.ws) login(); };
    ws.onmessage = (ev) => { if (ws === state.ws) onFrame(ev.data); };
    ws.onclose = (ev) => dropped(ws, ev.code);
  }

  async function login() {
    const ws = state.ws;
    const c = state.creds;
    let r;
    try {
      r = await request('login', {
        // A number on the wire; a malformed one is sent as typed, for the
        // server to name the error.
        SDKAppID: /^\d+$/.test(c.sdkappid) ? Number(c.sdkappid) : c.sdkappid,
        UserID: c.user, UserSig: c.sig, Platform: c.platform,
      });
    } catch (err) {
      showError(err);
      if (err.code) { // refused: the kick and the close follow
        state.stopped = true;
        $('login').hidden = false;
        $('app').hidden = true;
        $('logout').hidden = true;
      } else {
        dropped(ws, 0);
      }
      return;
    }
    state.attempt = 0;
    startHeartbeat(r.HeartbeatInterval || 30);
    try {
      await resync();
    } catch (err) {
      showError(err); // what could not be synced shows up with the next push or login
    }
    if (ws !== state.ws) return;
    state.ready = true;
    const held = state.held;
    state.held = [];
    held.forEach(enqueue);
    state.online = true;
    setStatus('online');
    const first = c.openFirst;
    c.openFirst = null;
    if (first) openConv(first);
    else markReadSoon(); // what the sync brought into the open pane
  }

  function startHeartbeat(seconds) {
    clearInterval(state.heartbeat);
    state.heartbeat = setInterval(() => {
      const ws = state.ws;
      // A ping without a reply means a dead connection the browser has not
      // noticed yet: drop it and reconnect rather than wait for TCP.
      request('ping').catch(() => { if (ws === state.ws) dropped(ws, 0); });
    }, seconds * 1000);
  }

  // dropped handles the end of ws, whether the browser saw it close or the
  // heartbeat gave up on it.
  function dropped(ws, code) {
    if (ws !== state.ws) return;
    state.ws = null;
    state.online = false;
    clearInterval(state.heartbeat);
    for (const p of state.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ParleyError(0, 'connection lost'));
    }
    state.pending.clear();
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
    if (!state.creds || state.stopped || FINAL_KICKS.has(code)) {
      setStatus('offline');
      return;
    }
    // Exponential backoff with jitter, so that clients dropped together
    // do not all come back in the same instant.
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** state.attempt) * (0.5 + Math.random() / 2);
    state.attempt++;
    setStatus('reconnecting', `reconnecting in ${Math.ceil(delay / 1000)}s`);
    state.retryTimer = setTimeout(connect, delay);
  }

  function onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      showError(new ParleyError(0, 'unreadable frame from the server'));
      return;
    }
    if (f.op === 'reply') {
      const p = state.pending.get(f.id);
      if (!p) return;
      state.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.ActionStatus === 'OK') p.resolve(f.data || {});
      else p.reject(new ParleyError(f.ErrorCode, f.ErrorInfo));
    } else if (f.op === 'push') {
      if (state.ready) enqueue(f);
      else state.held.push(f);
    } else if (f.op === 'kick') {
      if (FINAL_KICKS.has(f.ErrorCode)) state.stopped = true;
      // A refused login already showed its reason, which says more.
      if (!(f.ErrorCode === 4001 && !$('error').hidden)) showError(new ParleyError(f.ErrorCode, f.ErrorInfo));
    }
  }

  // ---- catching up: cursors, sync ----------------------------------------

  // resync runs after every login: it loads the conversation list and
  // fetches, per conversation, the changes after the last one applied, so
  // that a reconnect leaves no gap. Pushes held meanwhile go through the
  // cursors after it (see login), which drop what the sync applied.
  async function resync() {
    const r = await request('conversations');
    for (const item of r.ConversationList || []) {
      const c = ensureConv(item.ConversationID);
      if (c.type === 'GROUP') {
        c.lastMsgSeq = item.LastMsgSeq || 0;
        c.readMsgSeq = item.ReadMsgSeq || 0;
      }
      setUnread(c, item.UnreadMsgNum || 0);
      const cursor = state.cursors.get(c.id);
      // A conversation new to this page has nothing to catch up on: its
      // history is fetched when it is opened.
      if (cursor === undefined) state.cursors.set(c.id, item.Seq);
      else if (item.Seq > cursor) await syncConv(c.id, cursor);
    }
  }

  async function syncConv(id, after) {
    for (;;) {
      const r = await request('sync', { ConversationID: id, AfterSeq: after });
      for (const ch of r.Changes || []) {
        if (ch.seq > after) {
          apply(id, ch.event, ch.data);
          after = ch.seq;
        }
      }
      if (r.Complete) after = Math.max(after, r.Head);
      if (r.Complete || !(r.Changes || []).length) break;
    }
    state.cursors.set(id, after);
  }

  // enqueue applies f after the pushes before it. Pushes of a connection
  // that has ended are skipped: the next login's resync covers them.
  function enqueue(f) {
    const ws = state.ws;
    state.chain = state.chain.then(() => (ws === state.ws ? onPush(f) : undefined)).catch(showError);
  }

  async function onPush(f) {
    const id = conversationOf(f.event, f.data);
    if (!id) return;
    if (!f.seq) { // live only, never logged: nothing to order it by
      apply(id, f.event, f.data);
      return;
    }
    const cursor = state.cursors.get(id);
    if (cursor !== undefined && f.seq <= cursor) return; // already applied
    if (cursor !== undefined && f.seq > cursor + 1) {
      // Changes in between were missed, or are not for this user: sync
      // finds out which, and may cover this push too.
      await syncConv(id, cursor);
      if (f.seq <= state.cursors.get(id)) return;
    }
    state.cursors.set(id, f.seq);
    apply(id, f.event, f.data);
  }

  function conversationOf(event, d) {
    if (!d) return null;
    if (d.GroupId) return 'GROUP' + d.GroupId;
    if (event === 'read' || event === 'unread') return d.Peer_Account ? 'C2C' + d.Peer_Account : null;
    const me = state.creds.user;
    const peer = d.From_Account === me ? d.To_Account : d.From_Account;
    return peer ? 'C2C' + peer : null;
  }

  // apply shows one change of conversation id.
  function apply(id, event, d) {
    const c = ensureConv(id);
    const shown = state.open === id;
    switch (event) {
      case 'message':
        toTop(c);
        if (c.type === 'GROUP') {
          c.lastMsgSeq = Math.max(c.lastMsgSeq, d.MsgSeq || 0);
          setUnread(c, c.lastMsgSeq - c.readMsgSeq);
        }
        if (shown) addMessage(fromPush(c, d));
        break;
      case 'recall':
        if (!shown) break;
        if (c.type === 'GROUP') (d.MsgSeqList || []).forEach((s) => markRecalled(String(s.MsgSeq)));
        else markRecalled(d.MsgKey);
        break;
      case 'read':
        if (c.type === 'GROUP') {
          c.readMsgSeq = Math.max(c.readMsgSeq, d.ReadMsgSeq || 0);
          setUnread(c, c.lastMsgSeq - c.readMsgSeq);
        } else {
          setUnread(c, d.UnreadMsgNum || 0);
        }
        break;
      case 'unread':
        setUnread(c, d.UnreadMsgNum || 0);
        break;
      // 'extension' changes nothing this page shows.
    }
  }

  // ---- the conversation list ---------------------------------------------

  function ensureConv(id) {
    let c = state.convs.get(id);
    if (c) return c;
    const group = id.startsWith('GROUP');
    c = {
      id,
      type: group ? 'GROUP' : 'C2C',
      name: group ? id.slice(5) : id.slice(3),
      unread: 0, lastMsgSeq: 0, readMsgSeq: 0,
      el: document.createElement('li'),
    };
    c.el.dataset.testid = 'conv';
    c.el.dataset.conv = id;
    const button = document.createElement('button');
    button.type = 'button';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = (group ? '# ' : '') + c.name;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.testid = 'unread';
    badge.textContent = '0';
    badge.hidden = true;
    button.append(name, badge);
    button.addEventListener('click', () => openConv(id));
    c.el.append(button);
    $('conversations').append(c.el);
    state.convs.set(id, c);
    return c;
  }

  function toTop(c) {
    const list = $('conversations');
    if (list.firstChild !== c.el) list.prepend(c.el);
  }

  function setUnread(c, n) {
    c.unread = Math.max(0, n);
    const badge = c.el.querySelector('.badge');
    badge.textContent = String(c.unread);
    badge.hidden = c.unread === 0;
    if (c.unread > 0 && state.open === c.id) markReadSoon();
  }

  // ---- the pane ----------------------------------------------------------

  function openConv(id) {
    const c = ensureConv(id);
    if (state.open) state.convs.get(state.open).el.classList.remove('open');
    state.open = id;
    c.el.classList.add('open');
    $('pane').hidden = false;
    $('pane').dataset.conv = id;
    $('pane-title').textContent = c.type === 'GROUP' ? `Group ${c.name}` : `Chat with ${c.name}`;
    $('text').focus();
    loadHistory(id);
  }

  async function loadHistory(id) {
    const c = state.convs.get(id);
    const token = ++state.paneToken;
    $('messages').replaceChildren();
    try {
      let list;
      if (c.type === 'GROUP') {
        const r = await request('history_group', { GroupId: c.name, ReqMsgNumber: GROUP_HISTORY_PAGE, WithRecalledMsg: 1 });
        list = (r.RspMsgList || []).filter((m) => !m.IsPlaceMsg || m.IsPlaceMsg === 2).map((m) => ({
          key: String(m.MsgSeq), order: m.MsgSeq, from: m.From_Account, time: m.MsgTimeStamp,
          body: m.MsgBody, recalled: m.IsPlaceMsg === 2, system: !!m.IsSystemMsg,
        }));
      } else {
        const r = await request('history_c2c', { Peer_Account: c.name, MaxCnt: HISTORY_PAGE, MinTime: 0, MaxTime: END_OF_TIME });
        list = (r.MsgList || []).map((m) => ({
          key: m.MsgKey, order: m.MsgTimeStamp, from: m.From_Account, time: m.MsgTimeStamp,
          body: m.MsgBody, recalled: (m.MsgFlagBits & 8) !== 0, // MsgFlagRecalled
        }));
      }
      if (token !== state.paneToken) return; // another conversation was opened meanwhile
      list.forEach(addMessage);
      markReadSoon();
    } catch (err) {
      if (token === state.paneToken) showError(err);
    }
  }

  // fromPush turns a message push into what addMessage takes. A group's
  // messages are ordered by MsgSeq, a C2C conversation's by time (ties in
  // the order they arrived).
  function fromPush(c, d) {
    const group = c.type === 'GROUP';
    return {
      key: group ? String(d.MsgSeq) : d.MsgKey, order: group ? d.MsgSeq : d.MsgTime,
      from: d.From_Account, time: d.MsgTime, body: d.MsgBody, recalled: false,
    };
  }

  function bodyText(body) {
    return (body || []).map((e) => {
      const content = e.MsgContent || {};
      switch (e.MsgType) {
        case 'TIMTextElem': return content.Text || '';
        case 'TIMCustomElem': return `[custom] ${content.Data || ''}`;
        default: return `[${e.MsgType}]`;
      }
    }).join(' ');
  }

  // addMessage shows m in the pane in its place, once: history, pushes,
  // syncs and one's own sends may all bring the same message.
  function addMessage(m) {
    const list = $('messages');
    const existing = list.querySelector(`[data-key="${CSS.escape(m.key)}"]`);
    if (existing) {
      if (m.recalled) markRecalled(m.key);
      return;
    }
    const mine = m.from === state.creds.user;
    const li = document.createElement('li');
    li.dataset.testid = 'msg';
    li.dataset.key = m.key;
    li.dataset.order = String(m.order);
    li.dataset.from = m.from || '';
    li.dataset.recalled = '0';
    li.className = mine ? 'msg mine' : 'msg';
    if (m.system) li.classList.add('system');
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = m.from || 'system';
    const time = document.createElement('time');
    time.textContent = new Date(m.time * 1000).toLocaleTimeString();
    const text = document.createElement('span');
    text.className = 'text';
    text.dataset.testid = 'msg-text';
    text.textContent = bodyText(m.body);
    li.append(from, time, text);
    if (mine) {
      const recall = document.createElement('button');
      recall.type = 'button';
      recall.className = 'recall';
      recall.dataset.testid = 'recall';
      recall.textContent = 'Recall';
      recall.addEventListener('click', () => recallMessage(m.key));
      li.append(recall);
    }
    let before = null; // insert after the last message not later than m
    for (let el = list.lastElementChild; el && Number(el.dataset.order) > m.order; el = el.previousElementSibling) before = el;
    list.insertBefore(li, before);
    if (m.recalled) markRecalled(m.key);
    if (!before) li.scrollIntoView({ block: 'nearest' });
  }

  function markRecalled(key) {
    const li = $('messages').querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!li || li.dataset.recalled === '1') return;
    li.dataset.recalled = '1';
    li.classList.add('recalled');
    li.querySelector('.text').textContent = 'message recalled';
    li.querySelector('.recall')?.remove();
  }

  // markReadSoon marks the open conversation read when it can be seen,
  // one mark_read at a time: marks wanted meanwhile are folded into one.
  async function markReadSoon() {
    if (!state.open || !state.online || document.visibilityState !== 'visible') return;
    if (state.readInFlight) {
      state.readAgain = true;
      return;
    }
    state.readInFlight = true;
    const c = state.convs.get(state.open);
    try {
      if (c.type === 'GROUP') {
        const seen = c.lastMsgSeq;
        const r = await request('mark_read', { GroupId: c.name });
        // Never below what was shown: unread stays 0 even if the server
        // counts differently, instead of marking read again and again.
        c.readMsgSeq = Math.max(c.readMsgSeq, r.ReadMsgSeq || 0, seen);
        setUnread(c, c.lastMsgSeq - c.readMsgSeq);
      } else {
        await request('mark_read', { Peer_Account: c.name });
        setUnread(c, 0);
      }
    } catch (err) {
      showError(err);
    } finally {
      state.readInFlight = false;
    }
    if (state.readAgain) {
      state.readAgain = false;
      markReadSoon();
    }
  }

  async function send(text) {
    const c = state.convs.get(state.open);
    const body = [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }];
    const random = crypto.getRandomValues(new Uint32Array(1))[0];
    if (c.type === 'GROUP') {
      const r = await request('send_group', { GroupId: c.name, Random: random, MsgBody: body });
      if (!r.MsgSeq) throw new ParleyError(0, `message dropped: ${r.MsgDropReason || 'by the app backend'}`);
      c.lastMsgSeq = Math.max(c.lastMsgSeq, r.MsgSeq);
      if (state.open === c.id) addMessage({ key: String(r.MsgSeq), order: r.MsgSeq, from: state.creds.user, time: r.MsgTime, body });
    } else {
      const r = await request('send_c2c', { To_Account: c.name, MsgRandom: random, MsgBody: body });
      if (state.open === c.id) addMessage({ key: r.MsgKey, order: r.MsgTime, from: state.creds.user, time: r.MsgTime, body });
    }
    toTop(c);
  }

  async function recallMessage(key) {
    const c = state.convs.get(state.open);
    try {
      if (c.type === 'GROUP') {
        const r = await request('recall_group', { GroupId: c.name, MsgSeqList: [{ MsgSeq: Number(key) }] });
        const ret = (r.RecallRetList || [])[0];
        if (ret && ret.RetCode) throw new ParleyError(ret.RetCode, `could not recall message ${key}`);
      } else {
        await request('recall_c2c', { To_Account: c.name, MsgKey: key });
      }
      markRecalled(key);
    } catch (err) {
      showError(err);
    }
  }

  // ---- login, logout, wiring ---------------------------------------------

  function start(creds) {
    state.creds = creds;
    state.stopped = false;
    state.attempt = 0;
    $('error').hidden = true;
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    $('me').textContent = `${creds.user} (${creds.platform})`;
    connect();
  }

  function logout() {
    state.stopped = true;
    state.creds = null;
    clearTimeout(state.retryTimer);
    if (state.ws) dropped(state.ws, 1000);
    setStatus('offline');
    state.cursors.clear();
    state.convs.clear();
    state.open = null;
    $('conversations').replaceChildren();
    $('messages').replaceChildren();
    $('pane').hidden = true;
    $('app').hidden = true;
    $('logout').hidden = true;
    $('me').textContent = '';
    $('login').hidden = false;
  }

  function defaultWS() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
  }

  function init() {
    // #sdkappid=..&user=..&sig=..&peer=..&group=..&platform=..&ws=..&autologin=1
    const p = new URLSearchParams(location.hash.slice(1));
    $('sdkappid').value = p.get('sdkappid') || '';
    $('userid').value = p.get('user') || '';
    $('usersig').value = p.get('sig') || '';
    if (p.get('platform')) $('platform').value = p.get('platform');
    const openFirst = p.get('peer') ? 'C2C' + p.get('peer') : p.get('group') ? 'GROUP' + p.get('group') : null;
    const wsURL = p.get('ws') || defaultWS();

    $('login').addEventListener('submit', (ev) => {
      ev.preventDefault();
      start({
        sdkappid: $('sdkappid').value.trim(), user: $('userid').value.trim(), sig: $('usersig').value.trim(),
        platform: $('platform').value, wsURL, openFirst,
      });
    });
    $('logout').addEventListener('click', logout);
    $('error').addEventListener('click', () => { $('error').hidden = true; });
    $('open-peer-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openConv('C2C' + $('peer').value.trim());
      $('peer').value = '';
    });
    $('open-group-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openConv('GROUP' + $('group').value.trim());
      $('group').value = '';
    });
    $('composer').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const input = $('text');
      const text = input.value;
      if (!text || !state.open) return;
      try {
        await send(text);
        input.value = '';
      } catch (err) {
        showError(err); // the text stays, to be sent again
      }
    });
    document.addEventListener('visibilitychange', markReadSoon);

    if (p.get('autologin') === '1' && p.get('sdkappid') && p.get('user') && p.get('sig')) $('login').requestSubmit();
  }

  init();
})();
