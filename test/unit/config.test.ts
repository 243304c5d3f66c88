import { ConfigError, DEFAULTS, configFromArgs, configFromEnv, envName, flagName, resolveConfig } from '../../src/config';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = resolveConfig();
    expect(c).toMatchObject({ port: 8080, prefix: '/pushframe', broker: 'memory', heartbeatMs: 4000, maxStreamBytes: 262144, pollTimeoutMs: 25000 });
    expect(c).toEqual(DEFAULTS);
  });

  it('leaves the demo off in production unless it is set by name', () => {
    expect(resolveConfig().demo).toBe(true);
    expect(resolveConfig({ production: true, publishKey: 'k' }).demo).toBe(false);
    expect(resolveConfig({ production: true, publishKey: 'k', demo: true }).demo).toBe(true);
    expect(resolveConfig({ production: true, publishKey: 'k', ...configFromArgs(['--demo']) }).demo).toBe(true);
  });

  it('names flags and environment variables from the keys', () => {
    expect(flagName('heartbeatMs')).toBe('heartbeat-ms');
    expect(envName('heartbeatMs')).toBe('PUSHFRAME_HEARTBEAT_MS');
  });

  it('reads flags in both forms, and booleans', () => {
    expect(configFromArgs(['--heartbeat-ms', '5000', '--port=9000', '--no-demo', '--broker', 'redis://127.0.0.1:6379'])).toEqual({
      heartbeatMs: 5000,
      port: 9000,
      demo: false,
      broker: 'redis://127.0.0.1:6379',
    });
  });

  it('takes a boolean flag as --flag, --no-flag, --flag=false or --flag false', () => {
    expect(configFromArgs(['--demo', 'false', '--port', '1'])).toEqual({ demo: false, port: 1 });
    expect(configFromArgs(['--demo', 'true'])).toEqual({ demo: true });
    expect(configFromArgs(['--demo', 'off', '--production', 'yes', '--publish-key', 'k'])).toEqual({ demo: false, production: true, publishKey: 'k' });
    expect(configFromArgs(['--demo', '--port', '2'])).toEqual({ demo: true, port: 2 });
    expect(configFromArgs(['--demo'])).toEqual({ demo: true });
    expect(configFromArgs(['--no-demo'])).toEqual({ demo: false });
    // A word that is not a boolean after a boolean flag is an argument of its own, and refused.
    expect(() => configFromArgs(['--demo', 'maybe'])).toThrow(/unexpected argument "maybe"/);
  });

  it('takes --workers and PUSHFRAME_WORKERS as a count or auto; 1 (one process, no cluster) by default', () => {
    expect(DEFAULTS.workers).toBe('1');
    expect(configFromArgs(['--workers', 'auto'])).toEqual({ workers: 'auto' });
    expect(configFromEnv({ PUSHFRAME_WORKERS: '4' })).toEqual({ workers: '4' });
    expect(resolveConfig({ workers: '16' }).workers).toBe('16');
  });

  it('reads the environment, including PORT, HOST and NODE_ENV', () => {
    const env = { PORT: '1234', HOST: '127.0.0.1', PUSHFRAME_ALLOWED_ORIGINS: 'https://a.example, https://b.example', NODE_ENV: 'production', PUSHFRAME_PUBLISH_KEY: 'k' };
    expect(configFromEnv(env)).toEqual({ port: 1234, host: '127.0.0.1', allowedOrigins: ['https://a.example', 'https://b.example'], production: true, publishKey: 'k' });
  });

  it.each([
    [() => configFromArgs(['--nope', '1']), /unknown flag --nope/],
    [() => configFromArgs(['--port']), /--port needs a value/],
    [() => configFromArgs(['--port', 'abc']), /--port: expected a whole number/],
    [() => configFromArgs(['stray']), /unexpected argument/],
    [() => configFromEnv({ PUSHFRAME_HEARTBEAT: '1' }), /unknown environment variable PUSHFRAME_HEARTBEAT/],
    [() => resolveConfig({ port: 70000 }), /port: 70000 is out of range 0..65535/],
    [() => resolveConfig({ heartbeatMs: 10 }), /out of range/],
    [() => resolveConfig({ broker: 'kafka://x' }), /must be "memory" or a redis:\/\/ URL/],
    [() => resolveConfig({ allowedOrigins: ['evil'] }), /not an origin/],
    [() => resolveConfig({ logLevel: 'loud' }), /must be one of/],
    [() => resolveConfig({ bogus: 1 } as never), /unknown option "bogus"/],
    [() => resolveConfig({ production: true }), /production mode needs a publish key/],
    [() => resolveConfig({ workers: '0' }), /workers: must be a number of processes from 1 to 999, or "auto"/],
    [() => resolveConfig({ workers: 'all' }), /workers: must be a number of processes from 1 to 999, or "auto"/],
    [() => resolveConfig({ workers: '1.5' }), /workers: must be a number/],
  ])('rejects bad input with a clear message (%#)', (fn, message) => {
    expect(fn).toThrow(ConfigError);
    expect(fn).toThrow(message);
  });
});
