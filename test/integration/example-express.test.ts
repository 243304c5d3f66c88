import { startExpressExample, type ExpressExample } from '../../examples/express/server';

/** examples/express: pushframe's handler in an Express app; the page and the clock channel. */
describe('examples/express', () => {
  let example: ExpressExample;

  beforeAll(async () => {
    example = await startExpressExample({ port: 0, host: '127.0.0.1', tickMs: 50, logLevel: 'silent' });
  });
  afterAll(() => example.close());

  it("serves its page, the bridge, and the clock through pushframe's handler", async () => {
    const page = await (await fetch(example.url + '/')).text();
    expect(page).toContain('<script src="/pushframe/pushframe.js"></script>');
    expect((await fetch(example.url + '/pushframe/pushframe.js')).status).toBe(200);
    const res = await fetch(example.url + '/pushframe/events?channels=clock');
    const reader = res.body!.getReader();
    let text = '';
    while (!/"time":"\d{4}-/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect((await fetch(example.url + '/nothing')).status).toBe(404);
  });
});
