/**
 * Follows the frame structure of a zstd stream (RFC 8878 §3.1) as it passes,
 * without decompressing, to tell a complete stream from a truncated one:
 * Node's zstd decoder ends quietly when its input stops mid-frame, so a
 * restore fed a cut-off download would otherwise look successful. Pure.
 */
import { ImgsrvError } from '../core/errors.ts';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type State = 'magic' | 'skipSize' | 'fhd' | 'fhRest' | 'blockHeader' | 'skip';

/** Tracks frame boundaries across arbitrary chunking; `end()` throws if the stream stopped mid-frame. */
export class ZstdFrameTracker {
  private state: State = 'magic';
  private need = 4; // bytes the current header field still needs
  private pending: number[] = [];
  private skipLeft = 0;
  private afterSkip: State = 'magic';
  private checksum = false;
  private lastBlock = false;
  private frames = 0;
  private offset = 0;

  /** Feed the next chunk of compressed bytes; throws on a malformed frame header. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'skip') {
        const n = Math.min(this.skipLeft, chunk.length - i);
        this.skipLeft -= n;
        i += n;
        if (this.skipLeft === 0) this.afterSkipDone();
        continue;
      }
      const take = Math.min(this.need - this.pending.length, chunk.length - i);
      for (let j = 0; j < take; j++) this.pending.push(chunk[i + j]!);
      i += take;
      if (this.pending.length === this.need) this.field(this.pending, this.offset + i - this.need);
    }
    this.offset += chunk.length;
  }

  /** Call when the input has ended: throws unless it ended on a frame boundary after at least one frame. */
  end(): void {
    if (this.state !== 'magic' || this.pending.length > 0) {
      throw new ImgsrvError('IO', `image stream is truncated: it ends inside a zstd frame after ${this.offset} bytes`, { hint: 'the download was cut short: fetch the image again' });
    }
    if (this.frames === 0) throw new ImgsrvError('IO', 'image stream is empty', { hint: 'fetch the image again' });
  }

  private skip(n: number, then: State): void {
    this.pending = [];
    this.afterSkip = then;
    if (n === 0) return this.go(then);
    this.state = 'skip';
    this.skipLeft = n;
  }

  private afterSkipDone(): void {
    this.go(this.afterSkip);
  }

  private go(state: State): void {
    this.state = state;
    this.pending = [];
    this.need = state === 'magic' || state === 'skipSize' ? 4 : state === 'fhd' ? 1 : state === 'blockHeader' ? 3 : this.need;
    if (state === 'magic' && this.lastBlock) {
      this.lastBlock = false;
      this.frames++;
    }
  }

  private field(b: number[], at: number): void {
    const u32 = (): number => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    switch (this.state) {
      case 'magic': {
        const m = u32();
        if (m === ZSTD_MAGIC) return this.go('fhd');
        if (((m & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) return this.go('skipSize');
        throw new ImgsrvError('IO', `image stream is not zstd (bad magic at byte ${at})`, { hint: 'the artifact is corrupt or not an imgsrv image' });
      }
      case 'skipSize':
        this.frames++;
        return this.skip(u32(), 'magic');
      case 'fhd': {
        const d = b[0]!;
        if (d & 0x08) throw new ImgsrvError('IO', `corrupt zstd frame header at byte ${at}`, { hint: 'the artifact is corrupt' });
        const fcsFlag = d >> 6;
        const single = (d & 0x20) !== 0;
        this.checksum = (d & 0x04) !== 0;
        const dictBytes = [0, 1, 2, 4][d & 0x03]!;
        const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
        const rest = (single ? 0 : 1) + dictBytes + fcsBytes;
        if (rest === 0) return this.go('blockHeader');
        this.state = 'fhRest';
        this.pending = [];
        this.need = rest;
        return;
      }
      case 'fhRest':
        return this.go('blockHeader');
      case 'blockHeader': {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        const last = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw new ImgsrvError('IO', `corrupt zstd block header at byte ${at}`, { hint: 'the artifact is corrupt' });
        const body = type === 1 ? 1 : size; // RLE blocks carry one byte
        if (!last) return this.skip(body, 'blockHeader');
        this.lastBlock = true;
        return this.skip(body + (this.checksum ? 4 : 0), 'magic');
      }
      default:
        return undefined;
    }
  }
}
