//! The page's accessibility: every element that scrolls is a focusable
//! region with a unique name (axe's `scrollable-region-focusable` and
//! `landmark-unique`), checked on the page's own markup and stylesheet.

use super::*;

/// The classes the page's own stylesheet lets scroll (`overflow` auto or
/// scroll). Read from the page rather than listed here, so a new scrolling
/// wrapper is checked without anyone remembering this test.
fn scrolling_classes(page: &str) -> Vec<String> {
    let css = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(css, _)| css)
        .expect("an inline stylesheet");
    let mut classes = Vec::new();
    for rule in css.split('}') {
        // rsplit: a rule inside @media reads "@media (…){.a{…".
        let Some((selectors, declarations)) = rule.rsplit_once('{') else {
            continue;
        };
        let scrolls = declarations.split(';').any(|d| {
            let (property, value) = d.split_once(':').unwrap_or((d, ""));
            property.trim().starts_with("overflow")
                && (value.contains("auto") || value.contains("scroll"))
        });
        if !scrolls {
            continue;
        }
        for selector in selectors.split(',') {
            let last = selector.split_whitespace().last().unwrap_or("");
            let found: Vec<String> = last
                .split('.')
                .skip(1)
                .map(|c| {
                    c.chars()
                        .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '-' || *ch == '_')
                        .collect()
                })
                .collect();
            assert!(
                !found.is_empty(),
                "{selector:?} scrolls but names no class: teach this test to find its elements"
            );
            classes.extend(found);
        }
    }
    classes
}

/// An opening tag's name and attributes (the page quotes every value).
fn tag_attributes(tag: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let tag = tag.trim_end_matches('/');
    let (name, mut rest) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
    let mut attributes = std::collections::BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(quoted) = rest.strip_prefix("=\"") {
            let close = quoted.find('"').expect("a closing quote");
            attributes.insert(key, quoted[..close].to_string());
            rest = &quoted[close + 1..];
        } else {
            attributes.insert(key, String::new());
        }
    }
    (name.to_ascii_lowercase(), attributes)
}

/// Every opening tag of the page, as name and attributes.
fn tags(page: &str) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    page.split('<')
        .skip(1)
        .filter(|piece| !piece.starts_with('/') && !piece.starts_with('!'))
        .filter_map(|piece| piece.split_once('>').map(|(tag, _)| tag_attributes(tag)))
        .collect()
}

/// The text of the element with this id, tags stripped.
fn text_of(page: &str, id: &str) -> String {
    let marker = format!(" id=\"{id}\"");
    assert_eq!(page.matches(&marker).count(), 1, "id {id} is not unique");
    let at = page.find(&marker).unwrap();
    let open = page[..at].rfind('<').unwrap();
    let (name, _) = page[open + 1..].split_once(' ').unwrap();
    let content_start = open + page[open..].find('>').unwrap() + 1;
    let close = format!("</{name}>");
    let content_end = content_start + page[content_start..].find(&close).unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in page[content_start..content_end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_string()
}

/// The accessible name `aria-labelledby` gives an element: the referenced
/// elements' texts, or the element's own `aria-label` where it names itself.
fn labelled_name(page: &str, attributes: &std::collections::BTreeMap<String, String>) -> String {
    let own = attributes.get("id");
    attributes["aria-labelledby"]
        .split_whitespace()
        .map(|id| {
            if Some(&id.to_string()) == own {
                attributes.get("aria-label").cloned().unwrap_or_default()
            } else {
                text_of(page, id)
            }
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keyboard users must reach every element that scrolls (axe's
/// `scrollable-region-focusable`) and hear what it holds; the regions'
/// names must also differ from each other and from their sections'
/// (`landmark-unique`), or a screen reader's list of regions is useless.
pub(super) fn assert_scrollers_are_named_focusable_regions(page: &str) {
    let classes = scrolling_classes(page);
    assert!(
        classes.iter().any(|c| c == "table-wrap") && classes.iter().any(|c| c == "chart-wrap"),
        "{classes:?}"
    );
    let mut scrollers = 0;
    let mut landmarks: Vec<String> = Vec::new();
    for (name, attributes) in tags(page) {
        let inline_scroll = attributes
            .get("style")
            .is_some_and(|s| s.contains("overflow"));
        assert!(!inline_scroll, "<{name}> scrolls by an inline style");
        let scrolls = attributes.get("class").is_some_and(|list| {
            list.split_whitespace()
                .any(|c| classes.iter().any(|s| s == c))
        });
        if scrolls {
            scrollers += 1;
            assert_eq!(
                attributes.get("tabindex").map(String::as_str),
                Some("0"),
                "{attributes:?}"
            );
            assert_eq!(
                attributes.get("role").map(String::as_str),
                Some("region"),
                "{attributes:?}"
            );
            assert!(attributes.contains_key("aria-labelledby"), "{attributes:?}");
        }
        let is_landmark = attributes.get("role").is_some_and(|r| r == "region")
            || (name == "section" && attributes.contains_key("aria-labelledby"));
        if is_landmark {
            let accessible = labelled_name(page, &attributes);
            assert!(!accessible.is_empty(), "no name: {attributes:?}");
            assert!(
                !landmarks.contains(&accessible),
                "two regions named {accessible:?}"
            );
            landmarks.push(accessible);
        }
    }
    // Every table and chart sits in a wrapper this test checked.
    assert_eq!(
        scrollers,
        page.matches("<table").count() + page.matches("<svg").count()
    );
}

#[test]
fn every_scrolling_element_is_a_named_focusable_region() {
    let page = html(&fixture(), Lang::En);
    assert_scrollers_are_named_focusable_regions(&page);
    assert!(page.contains(
        "<div class=\"table-wrap\" id=\"item-7-table-3\" tabindex=\"0\" role=\"region\" \
         aria-labelledby=\"item-7-table-3-h item-7-table-3\" aria-label=\"table\">"
    ));
    assert!(page.contains("<h3 id=\"item-7-table-3-h\">Phone line per hour"));
    assert_scrollers_are_named_focusable_regions(&html(&empty_report(), Lang::En));
}
