// fs-chunk-store 4 (webtorrent's default store): only what the tests spy on.
declare module 'fs-chunk-store' {
  export default class FSChunkStore {
    get(index: number, opts: unknown, cb: (err: Error | null, buf: Uint8Array) => void): void;
  }
}
