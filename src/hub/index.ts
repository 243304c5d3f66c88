export { Hub, SUBSCRIBED, type HubOptions, type HubStats, type OpenInfo, type Subscriber } from './hub';
export { Matcher } from './matcher';
