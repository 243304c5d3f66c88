export { IpcBroker } from './client';
export { IpcBrokerHost } from './host';
export { channelPort, type IpcPort } from './port';
export { IPC_TAG } from './wire';
