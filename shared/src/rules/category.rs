//! Course → product category.

use crate::model::{CategoryMap, CategoryMatcher, Course};

impl CategoryMap {
    /// [`category_for`] this map.
    pub fn category_for(&self, course: &Course) -> Option<String> {
        category_for(self, course)
    }
}

/// Category of `course`: the course property when present and not blank
/// (the LMS admins maintain it per course, so it is the most specific
/// source); else an exact course-id rule; else the longest configured name
/// prefix matching case-insensitively (longest, so "Automation Cloud
/// Advanced" can map differently from "Automation Cloud"); else `None`.
pub fn category_for(map: &CategoryMap, course: &Course) -> Option<String> {
    if let Some(c) = course.category.as_deref().map(str::trim) {
        if !c.is_empty() {
            return Some(c.to_string());
        }
    }
    let by_id = map.rules.iter().find(|r| match &r.matcher {
        CategoryMatcher::CourseId(id) => id == &course.id,
        CategoryMatcher::NamePrefix(_) => false,
    });
    if let Some(rule) = by_id {
        return Some(rule.category.clone());
    }
    let name = course.name.trim().to_lowercase();
    map.rules
        .iter()
        .filter_map(|r| match &r.matcher {
            CategoryMatcher::NamePrefix(p) => {
                let p = p.trim().to_lowercase();
                (!p.is_empty() && name.starts_with(&p)).then_some((p.len(), &r.category))
            }
            CategoryMatcher::CourseId(_) => None,
        })
        // Longest prefix wins; on equal length the first configured rule
        // wins (max_by_key keeps the last max, so compare reversed index).
        .enumerate()
        .max_by_key(|(i, (len, _))| (*len, std::cmp::Reverse(*i)))
        .map(|(_, (_, cat))| cat.clone())
}
