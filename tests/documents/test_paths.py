"""The closure table: descendants and ancestors at any depth, in one query, on any database."""

import pytest

from arkindex.documents.elements import CycleError, add_parent, create_element, create_elements
from arkindex.documents.models import ElementPath
from arkindex.documents.queries import ancestors, descendants


def ids(queryset):
    return set(queryset.values_list("id", flat=True))


def test_descendants_of_a_deep_chain_are_one_query(django_assert_num_queries, corpus, folder_type):
    chain = [create_element(corpus=corpus, type=folder_type, name="level 0")]
    for depth in range(1, 30):
        chain.append(
            create_element(corpus=corpus, type=folder_type, name=f"level {depth}", parent=chain[-1])
        )
    with django_assert_num_queries(1):
        found = ids(descendants([chain[0].id]))
    assert found == {element.id for element in chain[1:]}
    with django_assert_num_queries(1):
        assert ids(ancestors([chain[-1]])) == {element.id for element in chain[:-1]}
    assert ids(descendants([chain[0]], max_depth=1)) == {chain[1].id}
    assert ids(descendants([chain[5]], include_self=True)) == {e.id for e in chain[5:]}
    assert ElementPath.objects.get(ancestor=chain[0], descendant=chain[-1]).depth == 29


def test_a_dag_lists_shared_descendants_once_at_the_shortest_depth(corpus, folder_type, page_type):
    root = create_element(corpus=corpus, type=folder_type, name="root")
    left = create_element(corpus=corpus, type=folder_type, name="left", parent=root)
    middle = create_element(corpus=corpus, type=folder_type, name="middle", parent=left)
    page = create_element(corpus=corpus, type=page_type, name="page", parent=middle)
    line = create_element(corpus=corpus, type=page_type, name="line", parent=page)
    # A second, shorter way from the root to the page: the page and its line follow.
    add_parent(page, root)
    add_parent(page, root)  # linking twice is harmless

    assert list(descendants([root]).order_by("name").values_list("name", flat=True)) == [
        "left",
        "line",
        "middle",
        "page",
    ]
    assert ElementPath.objects.get(ancestor=root, descendant=page).depth == 1
    assert ElementPath.objects.get(ancestor=root, descendant=line).depth == 2
    assert ids(ancestors([page], max_depth=1)) == {middle.id, root.id}
    assert ids(ancestors([line])) == {page.id, middle.id, left.id, root.id}
    assert ids(descendants(descendants([left], max_depth=1))) == {page.id, line.id}


def test_linking_a_subtree_links_all_of_its_descendants(corpus, folder_type, page_type):
    top = create_element(corpus=corpus, type=folder_type, name="top")
    volume = create_element(corpus=corpus, type=folder_type, name="volume")
    pages = create_elements(corpus=corpus, type=page_type, names=["p1", "p2"], parent=volume)
    add_parent(volume, top)
    assert ids(descendants([top])) == {volume.id, pages[0].id, pages[1].id}
    assert ElementPath.objects.get(ancestor=top, descendant=pages[1]).depth == 2


def test_a_cycle_is_refused(corpus, folder_type):
    root = create_element(corpus=corpus, type=folder_type, name="root")
    child = create_element(corpus=corpus, type=folder_type, name="child", parent=root)
    grandchild = create_element(corpus=corpus, type=folder_type, name="grandchild", parent=child)
    count = ElementPath.objects.count()
    with pytest.raises(CycleError):
        add_parent(root, grandchild)
    with pytest.raises(CycleError):
        add_parent(root, root)
    assert ElementPath.objects.count() == count


def test_bulk_creation_under_a_deep_parent_takes_a_few_statements(
    django_assert_num_queries, corpus, folder_type, page_type
):
    parent = None
    for depth in range(10):
        parent = create_element(corpus=corpus, type=folder_type, name=f"{depth}", parent=parent)
    # Per batch: the elements, their own paths, the paths from above; plus the savepoint.
    with django_assert_num_queries(3 * 3 + 2):
        pages = create_elements(
            corpus=corpus,
            type=page_type,
            names=[f"page {n}" for n in range(25)],
            parent=parent,
            batch_size=10,
        )
    assert len(pages) == 25
    assert descendants(ancestors([parent], include_self=True).filter(name="0")).count() == 34
