/** JSON-schema patterns shared by the API routes (one copy of each rule). */

/** RFC 1123 hostname. */
export const HOSTNAME_PATTERN = '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
/** Dotted-quad IPv4. */
export const IPV4_PATTERN = '^((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)$';
/** NAME (latest version) or NAME@VERSION. */
export const IMAGE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(@[1-9][0-9]{0,8})?$';
/** A configuration group's name. */
export const GROUP_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,62}$';
/** Hostname pattern: letters, digits, '-', and the placeholders {n} and {mac}. */
export const HOSTNAME_TEMPLATE_PATTERN = '^[A-Za-z0-9{}-]{1,63}$';
/** One kernel command-line argument (no spaces or quotes). */
export const KERNEL_ARG_PATTERN = '^[^\\s"]{1,256}$';
/** A mount point kept on re-image. */
export const MOUNT_POINT_PATTERN = '^/[^\\s]{0,4095}$';
/** A target disk hint (contract/disk-hint.ts; checked in full by `diskHintProblem`): a name, /dev path, serial or WWN, or key=value,… */
export const DISK_PATTERN = '^[A-Za-z0-9/._:*+=,<>-]{1,256}$';

/** A JSON schema that also accepts null (null = clear the field / inherit the global setting). */
export const nullable = (schema: object): object => ({ anyOf: [schema, { type: 'null' }] });
