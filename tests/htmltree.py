"""A helper of the extraction tests: the shape of the tree Lexbor builds from a page
(the flattening must keep it shallow, the defusing no larger than the page's tags,
whatever the markup)."""


def _nodes(markup):
    """``(node, depth)`` of every node (elements, text, comments) of Lexbor's tree for
    ``markup`` (str or bytes), the root at depth 1."""
    from selectolax.lexbor import LexborHTMLParser
    stack = [(LexborHTMLParser(markup).root, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        child = node.child
        while child is not None:
            stack.append((child, depth + 1))
            child = child.next


def tree_depth(markup):
    """The depth of Lexbor's tree for ``markup``, the root counting 1."""
    return max(depth for _, depth in _nodes(markup))


def tree_size(markup):
    """How many nodes Lexbor's tree for ``markup`` has."""
    return sum(1 for _ in _nodes(markup))
