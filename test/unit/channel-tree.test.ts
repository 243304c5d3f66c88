import { ChannelTree } from '../../src/brokers/memory/tree';
import { matches } from '../../src/protocol';

/** The tree finds exactly the channels matches() accepts, for every kind of wildcard. */
describe('ChannelTree', () => {
  const channels = ['a', 'a/b', 'a/c', 'a/b/c', 'a/b/d', 'a/b/c/d', 'b', 'b/x', 'c/d/e', 'ab', 'ab/c'];
  const patterns = ['*', '**', 'a/*', 'a/**', 'a/b/*', 'a/b/**', 'b/*', 'c/*', 'c/**', 'c/d/*', 'x/*', 'x/**', 'ab/*', 'a/b/c/d/*'];
  const tree = new ChannelTree();
  for (const c of channels) tree.add(c);

  const found = (t: ChannelTree, p: string): string[] => {
    const out: string[] = [];
    t.forEachMatch(p, (c) => out.push(c));
    return out.sort();
  };

  it.each(patterns)('%s', (p) => {
    expect(found(tree, p)).toEqual(channels.filter((c) => matches(p, c)).sort());
  });

  it('forgets removed channels and keeps the paths others still need', () => {
    const t = new ChannelTree();
    for (const c of channels) t.add(c);
    t.remove('a/b');
    t.remove('a/b/c/d');
    t.remove('nothing/here');
    const left = channels.filter((c) => c !== 'a/b' && c !== 'a/b/c/d');
    for (const p of patterns) expect(found(t, p)).toEqual(left.filter((c) => matches(p, c)).sort());
    for (const c of left) t.remove(c);
    expect(found(t, '**')).toEqual([]);
  });
});
