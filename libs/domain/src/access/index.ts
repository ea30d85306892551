export { SCOPES, isScope, parseScopes, AccessError, type Scope, type AccessErrorCode } from './scopes';
export { authorize, type Principal } from './principal';
export { generateApiKey, parseApiKey, hashSecret, secretMatches, type NewApiKey } from './api-key';
export { signTenantToken, verifyTenantToken, TENANT_TOKEN_SCOPES, MAX_TENANT_TOKEN_TTL_MS, type TenantTokenRequest } from './tenant-token';
