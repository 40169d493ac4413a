-- Issuing a session records the agent's last authentication in the same statement (one round
-- trip per exchange instead of a transaction of four).
CREATE FUNCTION agent_sessions_touch_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspace_agents SET last_authenticated_at = NEW.created_at WHERE id = NEW.agent_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER agent_sessions_touch_agent AFTER INSERT ON agent_sessions
    FOR EACH ROW EXECUTE FUNCTION agent_sessions_touch_agent();
