//! File names for (device, inode) pairs the kernel side reports: found
//! among the files processes have open (/proc/PID/fd) or mapped
//! (/proc/PID/maps). A file no process holds stays unnamed.

use std::{collections::BTreeMap, os::unix::fs::MetadataExt as _};

/// Names found so far, by (kernel dev_t, inode).
#[derive(Default)]
pub struct FileNames {
    names: BTreeMap<(u32, u64), String>,
}

/// A userspace st_dev as the kernel's dev_t (MAJOR << 20 | MINOR).
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev) as u32;
    let minor = libc::minor(st_dev) as u32;
    (major << 20) | (minor & 0xfffff)
}

/// "08:01" (maps' hex major:minor) as the kernel's dev_t.
fn maps_dev(s: &str) -> Option<u32> {
    let (ma, mi) = s.split_once(':')?;
    Some((u32::from_str_radix(ma, 16).ok()? << 20) | (u32::from_str_radix(mi, 16).ok()? & 0xfffff))
}

impl FileNames {
    pub fn get(&self, dev: u32, ino: u64) -> Option<String> {
        self.names.get(&(dev, ino)).cloned()
    }

    /// Looks for the `wanted` pairs not named yet in every process's open
    /// files and mappings; returns how many it named.
    pub fn resolve(&mut self, wanted: impl IntoIterator<Item = (u32, u64)>) -> usize {
        let mut missing: std::collections::BTreeSet<(u32, u64)> = wanted
            .into_iter()
            .filter(|k| !self.names.contains_key(k))
            .collect();
        if missing.is_empty() {
            return 0;
        }
        let before = missing.len();
        let Ok(procs) = std::fs::read_dir(crate::probe::paths::proc("")) else {
            return 0;
        };
        for p in procs.flatten() {
            if missing.is_empty() {
                break;
            }
            if !p
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                continue;
            }
            if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
                for fd in fds.flatten() {
                    let Ok(md) = std::fs::metadata(fd.path()) else {
                        continue;
                    };
                    let key = (kernel_dev(md.dev()), md.ino());
                    if missing.remove(&key)
                        && let Ok(target) = std::fs::read_link(fd.path())
                    {
                        self.names
                            .insert(key, target.to_string_lossy().into_owned());
                    }
                }
            }
            if let Ok(maps) = std::fs::read_to_string(p.path().join("maps")) {
                for line in maps.lines() {
                    let f: Vec<&str> = line.splitn(6, char::is_whitespace).collect();
                    if f.len() < 6 {
                        continue;
                    }
                    let (Some(dev), Ok(ino)) = (maps_dev(f[3]), f[4].parse::<u64>()) else {
                        continue;
                    };
                    if ino != 0 && missing.remove(&(dev, ino)) {
                        self.names.insert((dev, ino), f[5].trim().to_owned());
                    }
                }
            }
        }
        before - missing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_file_this_process_holds_open() {
        let dir = std::env::temp_dir().join(format!("vmscan-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("held");
        let f = std::fs::File::create(&path).unwrap();
        let md = f.metadata().unwrap();
        let key = (kernel_dev(md.dev()), md.ino());
        let mut names = FileNames::default();
        assert_eq!(names.resolve([key, (1, 1)]), 1);
        assert_eq!(
            names.get(key.0, key.1).as_deref(),
            Some(path.to_str().unwrap())
        );
        assert_eq!(names.get(1, 1), None);
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(maps_dev("08:01"), Some((8 << 20) | 1));
        assert_eq!(maps_dev("fd:0a"), Some((0xfd << 20) | 10));
    }
}
