/** Small shared pieces: error alert, phase badge, progress bar, confirm dialog, action state. */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import { percent } from './format.ts';
import type { Phase } from './types.ts';

/** An error message in a live region; renders nothing (but keeps the region) when there is none. */
export function ErrorText({ error, id }: { error: string | null | undefined; id?: string }) {
  return (
    <div class="error" role="alert" id={id}>
      {error ?? ''}
    </div>
  );
}

/** A polite status line for successes ("Saved."). */
export function StatusText({ text }: { text: string | null }) {
  return (
    <div class="status" role="status">
      {text ?? ''}
    </div>
  );
}

/** The message of anything thrown, for showing to the operator. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.status === 409 || err.status === 400 || err.status === 404 ? err.message : `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** A coloured phase label; text carries the meaning, colour only repeats it. */
export function PhaseBadge({ phase }: { phase: Phase }) {
  return <span class={`badge phase-${phase}`}>{phase}</span>;
}

/** A labelled progress bar (native <progress>, so screen readers get the value). */
export function Progress({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(1, value));
  return (
    <span class="progress">
      <progress max={1000} value={Math.round(v * 1000)} aria-label={label} aria-valuetext={percent(v)} />
      <span class="progress-text">{percent(v)}</span>
    </span>
  );
}

/** Run async actions with a busy flag and the last error's message; run() resolves to undefined when it failed. */
export function useAction(): {
  busy: boolean;
  error: string | null;
  setError: (e: string | null) => void;
  run: <T>(fn: () => Promise<T>) => Promise<T | undefined>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (err) {
      setError(messageOf(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

/** Load data once (and again when `deps` change or reload() is called). */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): { data: T | undefined; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then(
      (d) => live && (setData(d), setError(null)),
      (err: unknown) => live && setError(messageOf(err)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

/** A modal confirm dialog (native <dialog>: focus trap, Escape closes). */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby={titleId} onCancel={(e) => (e.preventDefault(), props.onCancel())}>
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
      <div class="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
