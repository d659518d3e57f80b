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


def tree_size(markup):
    """How many nodes (elements, text, comments) Lexbor's tree for ``markup`` has."""
    from selectolax.lexbor import LexborHTMLParser
    size, stack = 0, [LexborHTMLParser(markup).root]
    while stack:
        node = stack.pop()
        size += 1
        child = node.child
        while child is not None:
            stack.append(child)
            child = child.next
    return size
