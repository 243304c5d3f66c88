interface Node {
  children: Map<string, Node>;
  /** A channel of this exact name exists (a node can also be just a path to others). */
  channel: boolean;
}

/**
 * The channel names as a tree of segments, so a wildcard pattern's channels are found by
 * walking only the part of the tree under its prefix: `a/*` visits the children of `a`,
 * `a/**` the subtree of `a`. A pattern that matches nothing costs its depth, not the
 * number of channels.
 */
export class ChannelTree {
  private readonly root: Node = { children: new Map(), channel: false };

  add(channel: string): void {
    let node = this.root;
    for (const segment of channel.split('/')) {
      let next = node.children.get(segment);
      if (!next) node.children.set(segment, (next = { children: new Map(), channel: false }));
      node = next;
    }
    node.channel = true;
  }

  /** Removes a channel and the path nodes nothing else needs. */
  remove(channel: string): void {
    const segments = channel.split('/');
    const path: Node[] = [this.root];
    for (const segment of segments) {
      const next = path[path.length - 1].children.get(segment);
      if (!next) return;
      path.push(next);
    }
    path[path.length - 1].channel = false;
    for (let i = segments.length; i > 0; i--) {
      const node = path[i];
      if (node.channel || node.children.size > 0) break;
      path[i - 1].children.delete(segments[i - 1]);
    }
  }

  /** Calls `fn` with every channel a wildcard pattern (`*`, `**`, `a/*`, `a/**`) matches. */
  forEachMatch(pattern: string, fn: (channel: string) => void): void {
    const deep = pattern.endsWith('**');
    const prefix = pattern.slice(0, pattern.length - (deep ? 2 : 1));
    let node: Node | undefined = this.root;
    if (prefix !== '') {
      for (const segment of prefix.slice(0, -1).split('/')) {
        node = node.children.get(segment);
        if (!node) return;
      }
    }
    if (deep) walk(node, prefix, fn);
    else for (const [segment, child] of node.children) if (child.channel) fn(prefix + segment);
  }
}

/** Every channel strictly below `node`, whose name starts with `prefix` (ending in `/` or empty). */
function walk(node: Node, prefix: string, fn: (channel: string) => void): void {
  for (const [segment, child] of node.children) {
    const name = prefix + segment;
    if (child.channel) fn(name);
    if (child.children.size > 0) walk(child, name + '/', fn);
  }
}
