/** haltgate's version, as in functions/package.json (a test keeps the two equal). */
export const HALTGATE_VERSION = '0.1.0';
