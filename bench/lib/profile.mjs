// Reading a V8 .cpuprofile (node --cpu-prof): self time per frame and per area, busiest first. Self time of a
// node is the sum of the intervals after the samples that landed in it (as Chrome DevTools computes it).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './procs.mjs';

/**
 * The newest .cpuprofile in `dir`, or undefined.
 * @param {string} dir
 */
export function findProfile(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.length ? join(dir, files.sort().at(-1)) : undefined;
}

function location(frame) {
  let url = frame.url ?? '';
  if (url.startsWith('file://')) url = relative(REPO_ROOT, new URL(url).pathname);
  return url ? `${url}:${frame.lineNumber + 1}` : '';
}

function frameKey(frame) {
  return `${frame.functionName || '(anonymous)'} ${location(frame)}`.trim();
}

/** Which part of the system a frame belongs to, for the per-area summary. */
function area(frame) {
  const url = frame.url ?? '';
  if (!url) return frame.functionName || '(native)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:');
  const path = url.startsWith('file://') ? relative(REPO_ROOT, new URL(url).pathname) : url;
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (dep) return `dep:${dep[1]}`;
  return path;
}

/**
 * Summarise a profile: total, idle and busy time, the top `top` frames and areas by self time. Only samples at
 * or after `fromMicros` (V8's monotonic clock, the same as process.hrtime) count when it is given and the
 * profile has samples then; otherwise all do.
 * @param {string} file
 * @param {{ top?: number, fromMicros?: number }} [opts]
 */
export function analyseProfile(file, opts = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let t = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => {
    t += d;
    return t;
  });
  const from =
    opts.fromMicros !== undefined && stamps.some((s) => s >= opts.fromMicros) ? opts.fromMicros : -1;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    if (stamps[i] < from) continue;
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (stamps[i + 1] - stamps[i]));
  }
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const frames = new Map();
  const callers = new Map();
  const areas = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id).callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const key = frameKey(frame);
    frames.set(key, (frames.get(key) ?? 0) + us);
    const parent = byId.get(parentOf.get(id))?.callFrame;
    if (parent) {
      const byCaller = callers.get(key) ?? new Map();
      const pkey = frameKey(parent);
      byCaller.set(pkey, (byCaller.get(pkey) ?? 0) + us);
      callers.set(key, byCaller);
    }
    const a = area(frame);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (m, n = opts.top ?? 25) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, self_ms: us / 1000, pct_busy: busy > 0 ? (100 * us) / busy : 0 }));
  return {
    file,
    total_ms: total / 1000,
    idle_ms: idle / 1000,
    busy_ms: busy / 1000,
    // Each top frame with the callers its self time came through (the first three), to see whose work it is.
    top_frames: rank(frames).map((f) => ({ ...f, callers: rank(callers.get(f.name) ?? new Map(), 3) })),
    top_areas: rank(areas),
  };
}
