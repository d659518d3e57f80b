"""A helper of the extraction tests: how deep the tree is that Lexbor builds from a page
(the flattening must keep it shallow, whatever the markup's nesting)."""


def tree_depth(markup):
    """The depth of Lexbor's tree for ``markup`` (str or bytes), the root counting 1."""
    from selectolax.lexbor import LexborHTMLParser
    deepest, stack = 0, [(LexborHTMLParser(markup).root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        child = node.child
        while child is not None:
            stack.append((child, depth + 1))
            child = child.next
    return deepest
