// Live training progress: polls the DEEPaaS API (GET v2/models/, then v2/models/{name}/train/ for
// each model) and shows every job's status, epoch, loss and ETA with a progress bar.
import { fetchJson } from './stac.js';

/**
 * The names of the trainable models of a DEEPaaS v2 `GET /v2/models/` answer (`{models: [...]}` or a
 * bare array); models marked `trainable: false` have no jobs to poll.
 */
export function modelNames(answer) {
  const list = Array.isArray(answer) ? answer : Array.isArray(answer?.models) ? answer.models : [];
  return list
    .filter((m) => !(m && typeof m === 'object' && m.trainable === false))
    .map((m) => (typeof m === 'string' ? m : m && (m.name ?? m.id)))
    .filter((n) => typeof n === 'string' && n.length > 0);
}

/** The jobs of a `GET /v2/models/{name}/train/` answer (an array, or `{trainings|jobs|items: [...]}`). */
export function jobList(answer) {
  if (Array.isArray(answer)) return answer;
  for (const k of ['trainings', 'jobs', 'items']) if (Array.isArray(answer?.[k])) return answer[k];
  return [];
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The first finite number among some keys of some objects. */
function pick(objects, keys) {
  for (const o of objects) {
    if (!o || typeof o !== 'object') continue;
    for (const k of keys) {
      const v = num(o[k]);
      if (v !== null) return v;
    }
  }
  return null;
}

/** What the panel shows of a job: {id, model, status, epoch, epochs, loss, valLoss, etaSeconds, fraction, message}. */
export function describeJob(job, model) {
  const progress = job.progress && typeof job.progress === 'object' ? job.progress : {};
  const args = job.args && typeof job.args === 'object' ? job.args : {};
  const sources = [progress, job, args];
  const status = String(job.status ?? progress.status ?? 'unknown').toLowerCase();
  const epoch = pick(sources, ['epoch']);
  const epochs = pick(sources, ['epochs', 'total_epochs', 'totalEpochs']);
  const step = pick(sources, ['step']);
  const stepsPerEpoch = pick(sources, ['stepsPerEpoch', 'steps_per_epoch']);
  let fraction = pick([progress, job], ['fraction', 'progress_fraction']);
  if (fraction === null && epoch !== null && epochs) {
    const within = step !== null && stepsPerEpoch ? Math.min(1, step / stepsPerEpoch) : 0;
    fraction = ((within > 0 ? epoch - 1 : epoch) + within) / epochs;
  }
  if (status === 'done' || status === 'finished' || status === 'completed') fraction = 1;
  return {
    id: String(job.uuid ?? job.id ?? ''),
    model,
    status,
    epoch,
    epochs,
    // The epoch's mean loss so far is steadier than the last step's.
    loss: pick(sources, ['epochLoss', 'loss', 'train_loss', 'trainLoss']),
    valLoss: pick(sources, ['valLoss', 'val_loss']),
    etaSeconds: pick(sources, ['etaSeconds', 'eta_seconds', 'eta']),
    fraction: fraction === null ? null : Math.min(1, Math.max(0, fraction)),
    message: typeof job.message === 'string' ? job.message : typeof job.error === 'string' ? job.error : null,
    date: job.date ?? job.created ?? null,
  };
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(r).padStart(2, '0')} s`;
  return `${r} s`;
}

/** The jobs panel: polls and renders; never throws, shows errors in its status line. */
export class JobsPanel {
  /** Binds the panel to its list and status elements; pollMs is the polling period. */
  constructor(listEl, statusEl, pollMs) {
    this.listEl = listEl;
    this.statusEl = statusEl;
    this.pollMs = pollMs;
    this.timer = null;
    this.stopped = false;
  }

  /** Polls now and then every pollMs (a slower period after errors). */
  start() {
    this.stopped = false;
    const tick = async () => {
      const ok = await this.refresh();
      if (!this.stopped) this.timer = setTimeout(tick, ok ? this.pollMs : this.pollMs * 3);
    };
    void tick();
  }

  /** Stops polling. */
  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Fetches every model's jobs once and renders them; resolves to whether it worked. */
  async refresh() {
    try {
      const names = modelNames(await fetchJson('v2/models/'));
      const perModel = await Promise.all(
        names.map(async (name) => jobList(await fetchJson(`v2/models/${encodeURIComponent(name)}/train/`)).map((j) => describeJob(j, name))),
      );
      const jobs = perModel.flat();
      this.render(jobs, names.length);
      return true;
    } catch (e) {
      this.statusEl.textContent = `Training jobs unavailable: ${e instanceof Error ? e.message : String(e)}`;
      this.statusEl.classList.add('error');
      return false;
    }
  }

  /** Renders a list of described jobs (newest first). */
  render(jobs, modelCount) {
    this.statusEl.classList.remove('error');
    if (jobs.length === 0) {
      this.statusEl.textContent = modelCount === 0 ? 'No trainable models are served, so there are no training jobs.' : 'No training jobs yet.';
      this.listEl.replaceChildren();
      return;
    }
    const running = jobs.filter((j) => j.status === 'running').length;
    this.statusEl.textContent = `${jobs.length} training job${jobs.length === 1 ? '' : 's'}, ${running} running.`;
    const sorted = [...jobs].sort((a, b) => String(b.date ?? '').localeCompare(String(a.date ?? '')));
    this.listEl.replaceChildren(...sorted.map((j) => jobItem(j)));
  }
}

/** One job's list item. */
function jobItem(j) {
  const li = document.createElement('li');
  li.className = 'job';
  li.dataset.jobId = j.id;
  li.dataset.status = j.status;
  const head = document.createElement('div');
  head.className = 'job-head';
  const title = document.createElement('span');
  title.textContent = `${j.model} · ${j.id.slice(0, 8)}`;
  title.title = j.id;
  const status = document.createElement('span');
  status.className = `job-status ${j.status}`;
  status.textContent = j.status;
  head.append(title, status);
  li.append(head);
  if (j.fraction !== null) {
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = j.fraction;
    bar.setAttribute('aria-label', `Progress of job ${j.id.slice(0, 8)}: ${Math.round(j.fraction * 100)} %`);
    li.append(bar);
  }
  const dl = document.createElement('dl');
  const add = (term, value) => {
    if (value === null || value === undefined || value === '') return;
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dd.dataset.field = term.toLowerCase();
    dl.append(dt, dd);
  };
  add('Epoch', j.epoch !== null ? (j.epochs ? `${j.epoch} / ${j.epochs}` : String(j.epoch)) : null);
  add('Loss', j.loss !== null ? j.loss.toPrecision(4) : null);
  add('Val loss', j.valLoss !== null ? j.valLoss.toPrecision(4) : null);
  add('ETA', j.etaSeconds !== null && j.status === 'running' ? formatDuration(j.etaSeconds) : null);
  add('Message', j.message);
  if (dl.childElementCount) li.append(dl);
  return li;
}
