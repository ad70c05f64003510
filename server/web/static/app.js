// The results page: the output list (STAC search with paging), the map, the before/after swipe and
// the training jobs panel. Plain ES modules, no build step.
import { ResultsMap } from './map.js';
import { Swipe } from './swipe.js';
import { JobsPanel } from './jobs.js';
import { assetUrl, fetchJson, firstSearchRequest, itemSummary, runSearch } from './stac.js';

const $ = (id) => document.getElementById(id);

/** Shows a message in a status line (as an error when error is true). */
function setStatus(el, text, error = false) {
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function main() {
  let config = { tileUrl: null, tileAttribution: null, jobsPollMs: 5000, pageSize: 20 };
  try {
    config = { ...config, ...(await fetchJson('map/config.json')) };
  } catch (e) {
    setStatus($('outputs-status'), `Page configuration unavailable (${e.message}); using defaults.`, true);
  }

  const map = new ResultsMap($('map'), config);
  const swipe = new Swipe($('swipe'), (p) => map.setSwipe(p));
  const jobs = new JobsPanel($('jobs-list'), $('jobs-status'), config.jobsPollMs);
  jobs.start();

  const state = { pages: [firstSearchRequest(config.pageSize)], index: 0, next: null, items: [], selected: null, token: 0 };

  const select = async (item) => {
    const token = ++state.token;
    state.selected = item;
    for (const b of $('outputs-list').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.itemId === item.id));
    $('compare').hidden = false;
    $('compare-caption').textContent = item.id;
    map.resize();
    const before = assetUrl(item, 'thumbnail-bicubic');
    const after = assetUrl(item, 'thumbnail');
    if (!before.url || !after.url) {
      swipe.clear();
      map.select(item, null, null, false);
      setStatus($('compare-status'), `No before/after pair for this output: ${[before.error, after.error].filter(Boolean).join('; ')}.`, true);
      return;
    }
    setStatus($('compare-status'), 'Loading the quicklooks…');
    map.select(item, before.url, after.url, $('overlay-toggle').checked);
    try {
      await swipe.show(before.url, after.url);
      if (token === state.token) setStatus($('compare-status'), 'Drag across the image (or use the arrow keys) to compare bicubic and super-resolved.');
    } catch (e) {
      if (token === state.token) setStatus($('compare-status'), e.message, true);
    }
  };

  $('overlay-toggle').addEventListener('change', () => {
    if (state.selected) void select(state.selected);
  });

  const renderList = (items, matched) => {
    const list = $('outputs-list');
    list.replaceChildren(
      ...items.map((item) => {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.itemId = item.id;
        button.setAttribute('aria-pressed', String(state.selected?.id === item.id));
        const title = document.createElement('span');
        title.textContent = item.id;
        const meta = document.createElement('span');
        meta.className = 'meta';
        meta.textContent = itemSummary(item);
        button.append(title, meta);
        button.addEventListener('click', () => void select(item));
        li.append(button);
        return li;
      }),
    );
    const total = matched !== null ? ` of ${matched}` : '';
    setStatus(
      $('outputs-status'),
      items.length === 0 ? (state.index === 0 ? 'The catalogue holds no outputs yet.' : 'No more outputs.') : `${items.length} output${items.length === 1 ? '' : 's'}${total} on this page.`,
    );
    $('page-label').textContent = `Page ${state.index + 1}`;
    $('prev-page').disabled = state.index === 0;
    $('next-page').disabled = state.next === null;
  };

  const loadPage = async () => {
    setStatus($('outputs-status'), 'Loading outputs…');
    $('prev-page').disabled = true;
    $('next-page').disabled = true;
    try {
      const { items, next, matched } = await runSearch(state.pages[state.index]);
      state.items = items;
      state.next = next;
      if (next) state.pages[state.index + 1] = next;
      renderList(items, matched);
      map.showItems(items);
    } catch (e) {
      setStatus($('outputs-status'), `Could not list the outputs: ${e.message}`, true);
      $('prev-page').disabled = state.index === 0;
    }
  };

  map.onSelect = (item) => void select(item);
  $('next-page').addEventListener('click', () => {
    if (!state.next) return;
    state.index += 1;
    void loadPage();
  });
  $('prev-page').addEventListener('click', () => {
    if (state.index === 0) return;
    state.index -= 1;
    void loadPage();
  });
  await loadPage();
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  setStatus($('outputs-status'), `The page failed to start: ${e instanceof Error ? e.message : String(e)}`, true);
});
