export { grant, verifyGrant, privatePatterns, firstUncovered, GrantError, GRANT_MAX_LENGTH, type Grant, type GrantFailure } from './grants';
