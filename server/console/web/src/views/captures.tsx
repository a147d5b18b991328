/** "Capture a host" form and the captures' live progress (from the `captures` live event). */
import { useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { bytes, dateTime } from '../format.ts';
import type { CaptureView } from '../types.ts';
import { ErrorText, StatusText, useAction } from '../ui.tsx';

function CaptureProgress({ c }: { c: CaptureView }) {
  const p = c.progress;
  const parts: string[] = [];
  if (p?.bytes != null) parts.push(p.totalBytes ? `${bytes(p.bytes)} of ${bytes(p.totalBytes)}` : bytes(p.bytes));
  if (p?.files != null) parts.push(`${p.files} files`);
  const fraction = p?.bytes != null && p.totalBytes ? p.bytes / p.totalBytes : null;
  return (
    <div class="capture-progress">
      {fraction !== null ? (
        <progress max={1000} value={Math.round(fraction * 1000)} aria-label={`Capture of ${c.source}`} />
      ) : (
        // No total yet (rsync is still counting): an indeterminate bar.
        <progress aria-label={`Capture of ${c.source}`} />
      )}
      <span class="muted small-text">
        {p?.phase ?? c.phase ?? ''} {parts.join(' · ')}
      </span>
    </div>
  );
}

/** The form and the list of captures, newest first. */
export function Captures({ captures }: { captures: CaptureView[] | null }) {
  const [source, setSource] = useState('');
  const [name, setName] = useState('');
  const [started, setStarted] = useState<string | null>(null);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setStarted(null);
    const body: { source: string; name?: string } = { source: source.trim() };
    if (name.trim()) body.name = name.trim();
    const c = await action.run(() => api<CaptureView>('POST', '/captures', body));
    if (c) {
      setStarted(`Capture of ${c.source} started.`);
      setSource('');
      setName('');
    }
  };
  const list = [...(captures ?? [])].sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt), undefined, { numeric: true }));
  return (
    <section class="card" aria-labelledby="capture-title">
      <h2 id="capture-title">Capture a host</h2>
      <form class="row-form" onSubmit={submit}>
        <div class="field grow">
          <label for="capture-source">Source host</label>
          <input
            id="capture-source"
            required
            value={source}
            placeholder="root@198.18.0.10 or rsync://host/module"
            onInput={(e) => setSource(e.currentTarget.value)}
            spellcheck={false}
            aria-describedby="capture-source-hint"
          />
          <small id="capture-source-hint" class="muted">
            Same as <code>imgsrv capture HOST</code>: copied over ssh with rsync.
          </small>
        </div>
        <div class="field">
          <label for="capture-name">Image name (optional)</label>
          <input id="capture-name" value={name} onInput={(e) => setName(e.currentTarget.value)} spellcheck={false} />
        </div>
        <button type="submit" class="primary" disabled={action.busy}>
          Capture
        </button>
      </form>
      <ErrorText error={action.error} />
      <StatusText text={started} />
      {list.length > 0 && (
        <ul class="captures">
          {list.map((c) => (
            <li key={c.id} data-state={c.state}>
              <div>
                <strong>{c.name}</strong>
                {c.version != null && <>@{c.version}</>} <span class="muted">from</span> <span class="mono">{c.source}</span>{' '}
                <span class={`badge capture-${c.state}`}>{c.state}</span> <span class="muted small-text">{dateTime(c.startedAt)}</span>
              </div>
              {c.state === 'running' && (
                <div class="row-form">
                  <CaptureProgress c={c} />
                  <button type="button" class="small" onClick={() => void action.run(() => api('POST', `/captures/${seg(c.id)}/cancel`, {}))}>
                    Cancel<span class="visually-hidden"> capture of {c.source}</span>
                  </button>
                </div>
              )}
              {c.error && <pre class="node-error">{c.error}</pre>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
