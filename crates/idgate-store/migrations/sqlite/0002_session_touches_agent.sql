-- Issuing a session records the agent's last authentication in the same statement, so that an
-- exchange costs the single SQLite writer one statement instead of a four-statement
-- transaction (BEGIN, UPDATE, INSERT, COMMIT).
CREATE TRIGGER agent_sessions_touch_agent AFTER INSERT ON agent_sessions
BEGIN
    UPDATE workspace_agents SET last_authenticated_at = NEW.created_at WHERE id = NEW.agent_id;
END;
