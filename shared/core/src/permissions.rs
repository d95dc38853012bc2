//! Permissions: a level per task. A staff member's level for a task is the higher of their user
//! group's and their advanced (per-staff, additive only) level; the owner has `full` everywhere.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Staff,
    Families,
    Settings,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Staff, Task::Families, Task::Settings];
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    None,
    View,
    Full,
}

/// A level per task. Missing tasks deserialize as `none`; unknown ones are ignored, like every
/// unknown request field (a level that is not `none`/`view`/`full` is still malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Permissions {
    pub staff: Level,
    pub families: Level,
    pub settings: Level,
}

impl Permissions {
    pub const FULL: Permissions = Permissions {
        staff: Level::Full,
        families: Level::Full,
        settings: Level::Full,
    };

    pub fn level(&self, task: Task) -> Level {
        match task {
            Task::Staff => self.staff,
            Task::Families => self.families,
            Task::Settings => self.settings,
        }
    }

    /// The higher level per task.
    pub fn union(&self, other: &Permissions) -> Permissions {
        Permissions {
            staff: self.staff.max(other.staff),
            families: self.families.max(other.families),
            settings: self.settings.max(other.settings),
        }
    }

    /// True when no task is above the same task in `limit` (nobody grants above their own).
    pub fn within(&self, limit: &Permissions) -> bool {
        Task::ALL.iter().all(|t| self.level(*t) <= limit.level(*t))
    }

    pub fn allows(&self, task: Task, level: Level) -> bool {
        self.level(task) >= level
    }
}

/// A user group: a named level per task that staff members are assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroup {
    pub id: String,
    pub name: String,
    pub permissions: Permissions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_and_union() {
        assert!(Level::None < Level::View && Level::View < Level::Full);
        let group = Permissions {
            families: Level::View,
            ..Default::default()
        };
        let advanced = Permissions {
            families: Level::Full,
            staff: Level::View,
            ..Default::default()
        };
        let eff = group.union(&advanced);
        assert_eq!(eff.families, Level::Full);
        assert_eq!(eff.staff, Level::View);
        assert_eq!(eff.settings, Level::None);
        assert!(eff.within(&Permissions::FULL));
        assert!(!Permissions::FULL.within(&eff));
        let parsed: Permissions = serde_json::from_str(r#"{"staff":"view"}"#).unwrap();
        assert_eq!(parsed.staff, Level::View);
        assert_eq!(parsed.settings, Level::None);
    }
}
