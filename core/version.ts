/** imgsrv's version, shown by --version and /api/v1/status. */
export const VERSION = '0.1.0';
