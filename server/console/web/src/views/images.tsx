/** Images: every version with its facts, the sample image blank nodes receive, verify, delete, capture. */
import { useEffect, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { bytes, dateTime } from '../format.ts';
import type { LiveState } from '../live.ts';
import type { DeployView, ImageSummary } from '../types.ts';
import { ConfirmDialog, ErrorText, StatusText, messageOf, useAction, useLoad } from '../ui.tsx';
import { Captures } from './captures.tsx';

function Verification({ image, onVerify, busy }: { image: ImageSummary; onVerify: () => void; busy: boolean }) {
  const v = image.verification;
  return (
    <span class="verification">
      {v == null ? (
        <span class="muted">not verified</span>
      ) : v.ok ? (
        <span class="ok" title={dateTime(v.at)}>
          ✓ verified
        </span>
      ) : (
        <span class="bad" title={v.problems.join('\n')}>
          ✗ failed{v.problems[0] ? `: ${v.problems[0]}${v.problems.length > 1 ? ` (+${v.problems.length - 1} more)` : ''}` : ''}
        </span>
      )}
      <button type="button" class="small" onClick={onVerify} disabled={busy}>
        Verify<span class="visually-hidden"> {image.name}@{image.version}</span>
      </button>
      <span class="muted small-text">{image.signedBy ? `signed by key ${image.signedBy}` : 'unsigned'}</span>
    </span>
  );
}

/** Whether `img` is what `deploy.image` names (NAME means its latest version). */
function isSample(deploy: DeployView | undefined, img: ImageSummary): boolean {
  if (!deploy?.image) return false;
  if (deploy.image === `${img.name}@${img.version}`) return true;
  return deploy.image === img.name && deploy.resolved?.name === img.name && deploy.resolved.version === img.version;
}

export function ImagesView({ live }: { live: LiveState }) {
  const deploy = useLoad(() => api<DeployView>('GET', '/deploy'));
  const action = useAction();
  // Whichever is newer wins: the live feed's list, or our own fetch after an action.
  const [images, setImages] = useState<ImageSummary[] | null>(live.images);
  useEffect(() => {
    if (live.images) setImages(live.images);
  }, [live.images]);
  const refresh = () => void api<ImageSummary[]>('GET', '/images').then(setImages, (err: unknown) => action.setError(messageOf(err)));
  useEffect(refresh, []);
  const [status, setStatus] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<ImageSummary | null>(null);
  const names = [...new Set((images ?? []).map((i) => i.name))];

  const setSample = async (image: string | null) => {
    setStatus(null);
    const ok = await action.run(() => api('PUT', '/deploy', { image }));
    deploy.reload();
    if (ok !== undefined) setStatus(image ? `Sample image is now ${image}.` : 'No sample image: blank nodes wait.');
  };
  const verify = async (img: ImageSummary) => {
    setStatus(null);
    const r = await action.run(() => api<{ ok: boolean; problems: string[] }>('POST', `/images/${seg(img.name)}/${img.version}/verify`, {}));
    if (r) setStatus(`${img.name}@${img.version}: ${r.ok ? 'verified, every file matches' : `verification failed: ${r.problems.join('; ')}`}.`);
    refresh();
  };
  const remove = async () => {
    const img = deleting;
    setDeleting(null);
    if (!img) return;
    const ok = await action.run(() => api('DELETE', `/images/${seg(img.name)}/${img.version}`));
    if (ok !== undefined) setStatus(`${img.name}@${img.version} deleted.`);
    refresh();
  };

  return (
    <>
      <section class="card" aria-labelledby="sample-title">
        <h2 id="sample-title">Sample image</h2>
        <p>
          Blank nodes receive{' '}
          {deploy.data?.image ? (
            <strong class="sample-current">
              {deploy.data.image}
              {deploy.data.resolved && deploy.data.image === deploy.data.resolved.name && ` (latest: version ${deploy.data.resolved.version})`}
            </strong>
          ) : (
            <strong>no image yet</strong>
          )}
          . A group or a node can override it.
        </p>
        {deploy.data?.problem && <p class="bad">{deploy.data.problem}</p>}
        {names.length > 0 && (
          <div class="row-form">
            {names.map((n) => (
              <button key={n} type="button" class="small" disabled={action.busy || deploy.data?.image === n} onClick={() => void setSample(n)}>
                Use latest {n}
              </button>
            ))}
            {deploy.data?.image && (
              <button type="button" class="small" onClick={() => void setSample(null)}>
                Clear sample image
              </button>
            )}
          </div>
        )}
      </section>
      <ErrorText error={action.error ?? deploy.error} />
      <StatusText text={status} />
      {images === null ? (
        <p class="muted">Loading images…</p>
      ) : images.length === 0 ? (
        <p class="empty">No image yet. Capture a sample host below, or run <code>imgsrv capture HOST</code>.</p>
      ) : (
        <div class="table-wrap" role="region" aria-label="Images table" tabIndex={0}>
          <table class="images">
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Source host</th>
                <th scope="col">Size</th>
                <th scope="col">Compressed</th>
                <th scope="col">Created</th>
                <th scope="col">Verification</th>
                <th scope="col">Sample image</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {images.map((img) => {
                const ref = `${img.name}@${img.version}`;
                const sample = isSample(deploy.data, img);
                return (
                  <tr key={ref} data-image={ref} class={sample ? 'is-sample' : undefined}>
                    <th scope="row" class="mono">
                      {ref}
                      {img.inUse && <span class="badge in-use">in use</span>}
                    </th>
                    <td class="mono">{img.sourceHost}</td>
                    <td>{bytes(img.size)}</td>
                    <td>
                      {bytes(img.compressedSize)}
                      <span class="muted small-text"> ({img.compressedSize > 0 ? (img.size / img.compressedSize).toFixed(1) : '–'}×, zstd {img.zstdLevel})</span>
                    </td>
                    <td>{dateTime(img.createdAt)}</td>
                    <td>
                      <Verification image={img} busy={action.busy} onVerify={() => void verify(img)} />
                    </td>
                    <td>
                      {sample ? (
                        <span class="badge sample">★ Sample image</span>
                      ) : (
                        <button type="button" class="small" disabled={action.busy} onClick={() => void setSample(ref)}>
                          Use as sample image<span class="visually-hidden"> {ref}</span>
                        </button>
                      )}
                    </td>
                    <td>
                      <button type="button" class="small danger" onClick={() => setDeleting(img)}>
                        Delete<span class="visually-hidden"> {ref}</span>
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Captures captures={live.captures} />
      {deleting && (
        <ConfirmDialog open title={`Delete ${deleting.name}@${deleting.version}?`} confirmLabel="Delete" onConfirm={() => void remove()} onCancel={() => setDeleting(null)}>
          <p>The image files are removed from the server. A version in use by a deployment cannot be deleted.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
