export * from './grammar';
export * from './ids';
export * from './escape';
export * from './cursor';
export * from './message';
export * from './frames';
export * from './version';
export * from './patterns';
