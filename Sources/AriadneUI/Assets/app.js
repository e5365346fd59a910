// Ariadne's web UI: a hash router over the views. Nothing here is loaded from the internet.
import { getJSON, buildTrace } from './api.js';
import { el, clear } from './util.js';
import { renderSearch, renderResults, resultFromSummary } from './search.js';
import { renderTrace } from './trace.js';
import { renderCompare } from './compare.js';
import { renderMap } from './map.js';
import { renderInsights } from './insights.js';
import { renderMonitor } from './monitor.js';

const main = document.getElementById('view');
// Traces opened from a file: kept in this page only, never stored.
let fileViews = [];
let fileName = '';
// The trace on screen, so that selecting a span (a hash change) does not fetch it again.
let current = null;
let ownHash = null;

const app = {
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  /** Records state in the address (a deep link) without re-rendering. */
  replaceHash(hash) {
    if (location.hash === hash) return;
    ownHash = hash;
    history.replaceState(null, '', hash);
  },
  onEscape: null,
  focusSearch: false,
  /** The server's UI settings (links out); filled in before the first view is drawn. */
  ui: { links: [] },
};

async function route() {
  const hash = location.hash || '#/search';
  if (hash === ownHash) return;
  ownHash = null;
  const [path, query = ''] = hash.slice(1).split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href').split('?')[0]));
  app.onEscape = null;
  // Only selecting spans keeps the trace: coming back to it fetches it again, as more spans may have arrived.
  if (parts[0] !== 'trace') current = null;
  try {
    if (parts[0] === 'trace' && parts[1]) {
      const id = parts[1];
      if (current?.id !== id) {
        clear(main).append(el('p', { class: 'hint' }, 'Loading trace…'));
        current = { id, trace: buildTrace(await getJSON(`/api/analysis/traces/${encodeURIComponent(id)}`)) };
      }
      document.title = `${current.trace.summary.rootServiceName}: ${current.trace.summary.rootTraceName} · Ariadne`;
      renderTrace(main, current.trace, app, { spanId: params.get('span'), tab: params.get('tab') || 'timeline', base: `#/trace/${id}` });
    } else if (parts[0] === 'file' && parts[1] !== undefined) {
      const view = fileViews[Number(parts[1])];
      if (!view) { app.navigate('#/file'); return; }
      renderTrace(main, buildTrace(view), app, { spanId: params.get('span'), tab: params.get('tab') || 'timeline', base: `#/file/${parts[1]}` });
    } else if (parts[0] === 'file') {
      document.title = `${fileName} · Ariadne`;
      const box = el('section', { class: 'results', id: 'results' });
      clear(main).append(el('div', { class: 'file-page' }, el('h2', {}, `From ${fileName || 'a file'} (not stored)`), box));
      renderResults(box, fileViews.map((v, i) => ({ ...resultFromSummary(v.summary), index: i })), app,
        { onOpen: t => `#/file/${t.index}`, compare: false });
    } else if (parts[0] === 'compare') {
      document.title = 'Compare · Ariadne';
      await renderCompare(main, params, app);
    } else if (parts[0] === 'insights') {
      document.title = 'Insights · Ariadne';
      await renderInsights(main, params, app);
    } else if (parts[0] === 'monitor') {
      document.title = 'Monitor · Ariadne';
      await renderMonitor(main, params, app);
    } else if (parts[0] === 'map') {
      document.title = 'Service map · Ariadne';
      await renderMap(main, params, app);
    } else {
      document.title = 'Search · Ariadne';
      await renderSearch(main, params, app);
    }
  } catch (e) {
    if (e.status === 401) { renderLogin(); return; }
    clear(main).append(el('div', { class: 'error-page' }, el('h2', {}, 'Something went wrong'), el('p', { class: 'error', role: 'alert' }, e.message)));
  }
}

/** A secured server's sign-in: the credential is exchanged for an HttpOnly session cookie. */
function renderLogin() {
  document.title = 'Sign in · Ariadne';
  const input = el('input', { id: 'login-credential', type: 'password', autocomplete: 'off', required: true, placeholder: 'API key or token' });
  const error = el('p', { class: 'error', id: 'login-error', role: 'alert' });
  const submit = async e => {
    e.preventDefault();
    try {
      showUser(await getJSON('/api/session', { method: 'POST', body: JSON.stringify({ credential: input.value }), headers: { 'Content-Type': 'application/json' } }));
      route();
    } catch (err) { error.textContent = err.message; }
  };
  const form = el('form', { id: 'login-form', class: 'login', onsubmit: submit },
    el('h2', {}, 'Sign in to Ariadne'), el('label', {}, 'API key or token', input),
    el('button', { type: 'submit', id: 'login-submit' }, 'Sign in'), error);
  clear(main).append(el('div', { class: 'login-page' }, form));
  input.focus();
  // With an identity provider: its sign-in (code flow with PKCE, done by the server), back here after.
  getJSON('/api/session/methods').then(m => {
    if (!m.oidc) return;
    const back = '/' + (location.hash || '#/search');
    form.insertBefore(el('a', { id: 'login-oidc', class: 'button', href: '/api/session/oidc/login?return=' + encodeURIComponent(back) },
      'Sign in with your identity provider'), form.children[1]);
  }, () => {});
}

/** The signed-in user and tenant in the header, with a way out. */
function showUser(who) {
  document.getElementById('whoami')?.remove();
  if (!who?.auth || !who.user) return;
  const signOut = async () => { await getJSON('/api/session', { method: 'DELETE' }).catch(() => {}); document.getElementById('whoami')?.remove(); renderLogin(); };
  document.querySelector('header.top').append(el('div', { class: 'whoami', id: 'whoami' },
    el('span', { id: 'whoami-user' }, `${who.user} · ${who.tenant} · ${who.role}`),
    el('button', { id: 'logout', type: 'button', onclick: signOut }, 'Sign out')));
}

async function openFile(file) {
  try {
    const body = await file.arrayBuffer();
    const result = await getJSON('/api/analysis/traces', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    fileViews = result.traces;
    fileName = file.name;
    app.navigate(fileViews.length === 1 ? '#/file/0' : '#/file');
  } catch (e) {
    clear(main).append(el('div', { class: 'error-page' }, el('h2', {}, `Cannot open ${file.name}`), el('p', { class: 'error', role: 'alert' }, e.message)));
  }
}

document.getElementById('open-file').addEventListener('change', e => { if (e.target.files[0]) openFile(e.target.files[0]); e.target.value = ''; });
document.addEventListener('dragover', e => e.preventDefault());
document.addEventListener('drop', e => { e.preventDefault(); if (e.dataTransfer.files[0]) openFile(e.dataTransfer.files[0]); });

document.getElementById('go-trace').addEventListener('submit', e => {
  e.preventDefault();
  const id = new FormData(e.target).get('id').trim();
  if (id) app.navigate(`#/trace/${id}`);
});

document.addEventListener('keydown', e => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName);
  if (e.key === '/' && !typing) {
    e.preventDefault();
    const field = document.getElementById('search-service');
    if (field) field.focus();
    else { app.focusSearch = true; app.navigate('#/search'); }  // focused once the form is drawn
  } else if (e.key === 'Escape') {
    if (app.onEscape?.()) return;
    if (typing) document.activeElement.blur();
  }
});

// Jaeger UI's deep links (/trace/ID, /search?service=…), which Grafana and runbooks use, are
// served this page: they become the matching hash routes.
const jaegerLink = location.pathname.match(/^\/(trace|search)(?:\/([^/]+))?\/?$/);
if (jaegerLink && !location.hash) {
  history.replaceState(null, '', '/#/' + jaegerLink[1] + (jaegerLink[2] ? '/' + jaegerLink[2] : '') + location.search);
}
window.addEventListener('hashchange', route);
// The UI settings first (a view drawn without them would lack its links); a server that cannot
// answer leaves the defaults.
getJSON('/api/session').then(showUser, () => {})
  .then(() => getJSON('/api/ui/config')).then(ui => { app.ui = ui; }, () => {}).finally(route);
