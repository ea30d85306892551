export { KeyStore, type CreateKeyInput } from './key-store';
export { KeyBook, keysLastUsed, type KeyBookConfig } from './key-book';
export { encodeKeyRecord, decodeKeyRecord, type ApiKeyRecord } from './key-record';
